import assert from "node:assert/strict";
import { it } from "node:test";
import { ConversationStore, conversationTitle, type Memento } from "../../src/extension/conversation-store.js";
import type { SessionSnapshot } from "../../src/core/types.js";

/** An in-memory Memento, as VS Code's workspaceState behaves: values round-trip through JSON. */
class MemoryMemento implements Memento {
  readonly data = new Map<string, string>();
  get<T>(key: string): T | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }
  async update(key: string, value: unknown): Promise<void> {
    this.data.set(key, JSON.stringify(value));
  }
}

const snap = (id: string, updatedAt: number, request = `request ${id}`): SessionSnapshot => ({
  id, state: "done", request, context: {}, questions: [], rounds: 0, assumptions: [], answer: "", codeBlocks: [], createdAt: 1, updatedAt,
});

it("saves, lists newest first, replaces by id, deletes, and keeps at most N", async () => {
  const memento = new MemoryMemento();
  const store = new ConversationStore(memento, 3);
  await store.save(snap("a", 1));
  await store.save(snap("b", 3));
  await store.save(snap("c", 2));
  assert.deepEqual(store.list().map((s) => s.id), ["b", "c", "a"]);
  await store.save(snap("a", 5, "changed"));
  assert.deepEqual(store.list().map((s) => s.id), ["a", "b", "c"]);
  assert.equal(store.get("a")?.request, "changed");
  await store.save(snap("d", 6));
  assert.equal(store.list().length, 3);
  assert.equal(await store.delete("d"), true);
  assert.equal(await store.delete("nope"), false);
  assert.deepEqual(store.list().map((s) => s.id), ["a", "b"]);
});

it("remembers which conversation was on screen, while it exists", async () => {
  const store = new ConversationStore(new MemoryMemento());
  assert.equal(store.activeId, undefined);
  await store.save(snap("a", 1));
  await store.setActiveId("a");
  assert.equal(store.activeId, "a");
  await store.delete("a");
  assert.equal(store.activeId, undefined, "a deleted conversation is not shown again");
  await store.setActiveId(undefined);
  assert.equal(store.activeId, undefined);
});

it("drops damaged entries instead of trusting them", async () => {
  const memento = new MemoryMemento();
  await memento.update("clarifycoder.conversations", [snap("good", 1), { id: "bad", state: "exploded" }, 42, null]);
  assert.deepEqual(new ConversationStore(memento).list().map((s) => s.id), ["good"]);
  await memento.update("clarifycoder.conversations", { not: "a list" });
  // A new store reads again (the extension has one store per activation, which owns every write).
  assert.deepEqual(new ConversationStore(memento).list(), []);
});

it("titles a conversation by its request on one line", () => {
  assert.equal(conversationTitle(snap("x", 1, "  sort\n the   list ")), "sort the list");
  assert.equal(conversationTitle(snap("x", 1, "a".repeat(100)), 10), `${"a".repeat(9)}…`);
});
