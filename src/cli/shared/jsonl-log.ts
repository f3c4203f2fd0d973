/** The rows of a JSONL text that `parse` accepts, and the 1-based line numbers of those it does not (blank lines skipped). */
export function parseJsonl<T>(text: string, parse: (value: unknown) => T | undefined): { rows: T[]; unreadable: number[] } {
  const rows: T[] = [];
  const unreadable: number[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    let row: T | undefined;
    try {
      row = parse(JSON.parse(line));
    } catch {
      row = undefined;
    }
    if (row === undefined) unreadable.push(index + 1);
    else rows.push(row);
  });
  return { rows, unreadable };
}

/**
 * An append-only JSON Lines file that a long run can resume: rows already there are read back (a half line left by
 * a killed process is cut off and reported), each new row is one write of one whole line, and writes are queued so
 * that closing waits for the last one. Ctrl-C between rows therefore never leaves a half line.
 */
import { open, readFile, stat, truncate, type FileHandle } from "node:fs/promises";

interface JsonlLogOptions<T> {
  /** Reads one stored row; undefined (or a throw) marks the line as unreadable. */
  parse: (value: unknown) => T | undefined;
}

interface OpenedJsonl<T> {
  log: JsonlLog;
  /** The rows already in the file, in order. */
  rows: T[];
  /** Lines that could not be read (kept in the file, skipped here), with their 1-based line numbers. */
  unreadable: number[];
  /** Bytes of a half-written last line that were cut off, 0 when the file ended cleanly. */
  cutBytes: number;
}

export class JsonlLog {
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly file: string,
  ) {}

  static async open<T>(file: string, options: JsonlLogOptions<T>): Promise<OpenedJsonl<T>> {
    let text = "";
    let cutBytes = 0;
    const exists = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    if (exists) {
      text = await readFile(file, "utf8");
      const end = text.lastIndexOf("\n") + 1;
      if (end < text.length) {
        cutBytes = Buffer.byteLength(text.slice(end));
        text = text.slice(0, end);
        await truncate(file, Buffer.byteLength(text));
      }
    }
    const { rows, unreadable } = parseJsonl(text, options.parse);
    const handle = await open(file, "a");
    return { log: new JsonlLog(handle, file), rows, unreadable, cutBytes };
  }

  /** Appends one row as one line. Resolves once it is written. */
  append(row: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed.`));
    const line = Buffer.from(`${JSON.stringify(row)}\n`, "utf8");
    const write = this.queue.then(async () => {
      let offset = 0;
      while (offset < line.length) offset += (await this.handle.write(line, offset)).bytesWritten;
    });
    this.queue = write.catch(() => undefined);
    return write;
  }

  /** Waits for queued rows, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.handle.close();
  }
}
