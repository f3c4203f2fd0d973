/**
 * Conversations persisted per workspace (a Memento: `context.workspaceState` in the extension, an in-memory one in
 * tests). What is read back is validated: a damaged entry is never trusted, and never lost either: an entry this
 * version cannot read (damaged, or written by another version) is kept in storage as it was, and written back with
 * every save. Conversations of one turn (the format before follow-ups) read as they are: every field a conversation
 * of several turns adds is optional.
 */
import type { SessionSnapshot } from "../../core/types.js";
import { sessionSnapshotSchema } from "../../core/snapshot-schema.js";
import * as z from "zod/mini";

/** The part of vscode.Memento this needs, so tests can hand in a plain in-memory one. */
export interface Memento {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

const key = "clarifycoder.conversations";
const activeKey = "clarifycoder.activeConversation";
const stored = z.array(z.unknown());

export class ConversationStore {
  /** What was read and validated once; every write goes through this store, so it stays true. */
  private cache: SessionSnapshot[] | undefined;
  /** Stored entries that do not validate, kept as they are. */
  private unreadable: unknown[] = [];

  constructor(
    private readonly memento: Memento,
    /** Oldest conversations beyond this are forgotten. */
    private readonly keep = 100,
  ) {}

  /** Every saved conversation, newest first; entries that fail validation are left out. */
  list(): SessionSnapshot[] {
    this.cache ??= this.read();
    return [...this.cache];
  }

  private read(): SessionSnapshot[] {
    const value = this.memento.get<unknown>(key) ?? [];
    const raw = stored.safeParse(value);
    if (!raw.success) {
      this.unreadable = [value];
      return [];
    }
    const sessions: SessionSnapshot[] = [];
    this.unreadable = [];
    for (const entry of raw.data) {
      const parsed = sessionSnapshotSchema.safeParse(entry);
      if (parsed.success) sessions.push(parsed.data);
      else this.unreadable.push(entry);
    }
    return sessions.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** How many stored entries could not be read (and are kept as they are). */
  get unreadableCount(): number {
    this.list();
    return this.unreadable.length;
  }

  private async write(sessions: SessionSnapshot[]): Promise<void> {
    this.cache = sessions;
    await this.memento.update(key, [...sessions, ...this.unreadable]);
  }

  get(id: string): SessionSnapshot | undefined {
    return this.list().find((s) => s.id === id);
  }

  async save(snapshot: SessionSnapshot): Promise<void> {
    const others = this.list().filter((s) => s.id !== snapshot.id);
    const all = [structuredClone(snapshot), ...others].sort((a, b) => b.updatedAt - a.updatedAt);
    await this.write(all.slice(0, this.keep));
  }

  /** The conversation that was on screen, so a reloaded window shows it again (if it still exists). */
  get activeId(): string | undefined {
    const id = this.memento.get<unknown>(activeKey);
    return typeof id === "string" && this.get(id) ? id : undefined;
  }

  async setActiveId(id: string | undefined): Promise<void> {
    await this.memento.update(activeKey, id);
  }

  async delete(id: string): Promise<boolean> {
    const all = this.list();
    const rest = all.filter((s) => s.id !== id);
    if (rest.length === all.length) return false;
    await this.write(rest);
    return true;
  }
}

/** A conversation's title in the history list: its first request, on one line, shortened. */
export function conversationTitle(snapshot: SessionSnapshot, max = 60): string {
  const first = snapshot.earlier?.[0]?.request ?? snapshot.request;
  const line = first.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line || "(empty request)";
}
