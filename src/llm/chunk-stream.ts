/**
 * Streams a turn's text to the caller in pieces sent at most every `everyMs`: the first piece after a pause goes at
 * once, and pieces arriving faster are joined. One IPC message per token cost a few percent of the token rate at
 * thousands of tokens per second; a few milliseconds of joining is invisible to a reader.
 */
export class ChunkStream {
  private pending = "";
  private lastSent = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (text: string) => void,
    private readonly everyMs = 8,
  ) {}

  readonly push = (text: string): void => {
    this.pending += text;
    if (this.timer) return;
    const wait = this.lastSent + this.everyMs - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  };

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
