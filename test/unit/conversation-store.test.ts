import assert from "node:assert/strict";
import { it } from "node:test";
import { ConversationStore, conversationTitle, type Memento } from "../../src/extension/chat/conversation-store.js";
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
  id,
  state: "done",
  request,
  context: {},
  questions: [],
  rounds: 0,
  assumptions: [],
  answer: "",
  codeBlocks: [],
  createdAt: 1,
  updatedAt,
});

it("saves, lists newest first, replaces by id, deletes, and keeps at most N", async () => {
  const memento = new MemoryMemento();
  const store = new ConversationStore(memento, 3);
  await store.save(snap("a", 1));
  await store.save(snap("b", 3));
  await store.save(snap("c", 2));
  assert.deepEqual(
    store.list().map((s) => s.id),
    ["b", "c", "a"],
  );
  await store.save(snap("a", 5, "changed"));
  assert.deepEqual(
    store.list().map((s) => s.id),
    ["a", "b", "c"],
  );
  assert.equal(store.get("a")?.request, "changed");
  await store.save(snap("d", 6));
  assert.equal(store.list().length, 3);
  assert.equal(await store.delete("d"), true);
  assert.equal(await store.delete("nope"), false);
  assert.deepEqual(
    store.list().map((s) => s.id),
    ["a", "b"],
  );
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

it("never trusts a damaged entry, and never loses one: it is kept in storage through every save", async () => {
  const memento = new MemoryMemento();
  const damaged = [{ id: "bad", state: "exploded" }, 42, null];
  await memento.update("clarifycoder.conversations", [snap("good", 1), ...damaged]);
  const store = new ConversationStore(memento);
  assert.deepEqual(
    store.list().map((s) => s.id),
    ["good"],
  );
  assert.equal(store.unreadableCount, 3);
  await store.save(snap("new", 2));
  await store.delete("good");
  const stored = memento.get<unknown[]>("clarifycoder.conversations") ?? [];
  assert.deepEqual(stored.slice(1), damaged, "the entries it could not read are still there, as they were");
  await memento.update("clarifycoder.conversations", { not: "a list" });
  // A new store reads again (the extension has one store per activation, which owns every write).
  const other = new ConversationStore(memento);
  assert.deepEqual(other.list(), []);
  await other.save(snap("x", 3));
  assert.deepEqual(memento.get<unknown[]>("clarifycoder.conversations")?.[1], { not: "a list" });
});

it("reads conversations saved before follow-ups (one turn, no earlier turns) and round-trips several turns", async () => {
  const memento = new MemoryMemento();
  // A record exactly as the one-turn format wrote it.
  const old = {
    id: "old",
    state: "done",
    request: "parse a date",
    context: { languageId: "python", selection: { text: "x", startLine: 1, endLine: 1 } },
    questions: [{ id: "r1q1", round: 1, text: "Which format?", suggestions: ["ISO"], answer: "ISO" }],
    rounds: 1,
    assumptions: [],
    answer: "```python\nx\n```",
    codeBlocks: [{ language: "python", code: "x" }],
    createdAt: 1,
    updatedAt: 2,
  };
  const { id: _id, createdAt: _c, updatedAt: _u, ...firstTurn } = snap("-", 0, "sort the list");
  const several: SessionSnapshot = { ...snap("new", 3, "now add tests"), earlier: [{ ...firstTurn, state: "done" }] };
  await memento.update("clarifycoder.conversations", [old]);
  const store = new ConversationStore(memento);
  assert.equal(store.get("old")?.request, "parse a date");
  await store.save(several);
  const again = new ConversationStore(memento);
  assert.deepEqual(
    again.list().map((s) => s.id),
    ["new", "old"],
  );
  assert.equal(again.get("new")?.earlier?.[0]?.request, "sort the list");
  assert.equal(again.unreadableCount, 0);
  assert.equal(conversationTitle(several), "sort the list", "a conversation is titled by its first request");
});

it("titles a conversation by its request on one line", () => {
  assert.equal(conversationTitle(snap("x", 1, "  sort\n the   list ")), "sort the list");
  assert.equal(conversationTitle(snap("x", 1, "a".repeat(100)), 10), `${"a".repeat(9)}…`);
});
