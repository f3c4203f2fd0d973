/**
 * How often streamed text is passed on, at most: the model worker's pieces to its client, and the extension's
 * messages to the chat view. The view shows text at this pace anyway, and a reader sees no difference.
 *
 * Measured in the worker on the tiny model on one CPU thread (`npm run bench -- --models tiny --threads 1`, a
 * generation rate timed inside the worker against a bare loop in the same process, the median of 11 runs, several
 * times): with nothing sent the loop ran at 0.97-1.00x of the bare one, with a piece every 8 ms at 0.91-0.98x, every
 * 100 ms at 0.97x. Each message costs the worker a serialization and a write and the client a wake-up and a read, and
 * on a machine whose two cores share one, the client's work is taken from the worker's.
 */
export const streamIntervalMs = 40;

/**
 * Streams a turn's text to the caller in pieces sent at most every `everyMs`: the first piece, and the first after
 * `pause` (the prompt read), go at once, so the first word is not delayed; pieces arriving faster are joined.
 */
export class ChunkStream {
  private pending = "";
  private lastSent = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (text: string) => void,
    private readonly everyMs = streamIntervalMs,
  ) {}

  readonly push = (text: string): void => {
    this.pending += text;
    if (this.timer) return;
    const wait = this.lastSent + this.everyMs - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  };

  /**
   * The turn waits on something else now (the prompt being read): what is pending goes, and the next piece, the
   * reply's first word, goes at once however soon it comes.
   */
  pause(): void {
    this.flush();
    this.lastSent = -Infinity;
  }

  /** Drops what is pending, unsent (its reader has the text another way, or is gone). */
  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = "";
  }

  /** Sends what is pending now (the turn's end calls it before its reply). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === "") return;
    const text = this.pending;
    this.pending = "";
    this.lastSent = performance.now();
    this.emit(text);
  }
}
