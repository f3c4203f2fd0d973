/**
 * Progress for long commands (synthesis, evaluation, downloads): a bar with the count, rate and time left on a
 * terminal, and a plain line every so often when the output is a file or a pipe, so logs stay readable.
 */
import { MultiBar, Presets, type SingleBar } from "cli-progress";

export interface Progress {
  /** `n` more items done. */
  tick(n?: number): void;
  /** A line printed above the bar (a rejected item, a retry), without breaking it. */
  log(line: string): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** Items already done before this run (a resumed run): counted, but not in the rate. */
  done?: number;
  stream?: NodeJS.WriteStream;
  /** Plain lines at most this often when not a terminal (default 15 s). */
  lineEveryMs?: number;
  now?: () => number;
}

/** "2.5/s" or "12/min", whichever reads better. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "-";
  return perSecond >= 1 ? `${perSecond.toFixed(1)}/s` : `${(perSecond * 60).toFixed(1)}/min`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const started = now();
  const startDone = options.done ?? 0;
  let done = startDone;
  const stats = (): { rate: string; left: string } => {
    const perSecond = (done - startDone) / Math.max(1e-3, (now() - started) / 1000);
    const remaining = options.total - done;
    return { rate: formatRate(perSecond), left: perSecond > 0 ? formatDuration(remaining / perSecond) : "-" };
  };

  if (stream.isTTY) {
    const multi = new MultiBar(
      { format: `${options.label} [{bar}] {value}/{total} {percentage}% | {rate} | {left} left`, stream, hideCursor: true, clearOnComplete: false },
      Presets.shades_classic,
    );
    const bar: SingleBar = multi.create(options.total, done, stats());
    return {
      tick(n = 1) {
        done += n;
        bar.update(done, stats());
      },
      log(line) {
        multi.log(`${line}\n`);
      },
      stop() {
        multi.stop();
      },
    };
  }

  const every = options.lineEveryMs ?? 15_000;
  let lastLine = -Infinity;
  const line = (): void => {
    const { rate, left } = stats();
    const pct = options.total > 0 ? Math.floor((done / options.total) * 100) : 100;
    stream.write(`${options.label}: ${done}/${options.total} (${pct}%), ${rate}, ${left} left\n`);
    lastLine = now();
  };
  return {
    tick(n = 1) {
      done += n;
      if (now() - lastLine >= every || done >= options.total) line();
    },
    log(text) {
      stream.write(`${text}\n`);
    },
    stop() {
      if (lastLine === -Infinity || done < options.total) line();
    },
  };
}
