/**
 * The CLI's one progress reporter, on cli-progress: a bar on a terminal, and a plain line every so often when the
 * output is a file or a pipe, so logs stay readable. `startProgress` counts items (synthesis, evaluation) with their
 * rate and time left; `startStepProgress` follows steps that each fill up (the files of a download, the phases of a
 * model load), one bar per step; `startDownloadProgress` is the latter for a catalog download, with --json lines too.
 */
import { MultiBar, Presets, SingleBar } from "cli-progress";
import { describePullProgress, type PullProgress } from "../../llm/hub/library.js";

export interface Progress {
  /** `n` more items done. */
  tick(n?: number): void;
  /** A line printed above the bar (a rejected item, a retry), without breaking it. */
  log(line: string): void;
  stop(): void;
}

interface ProgressOptions {
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

interface StepProgress {
  /** The current step (`key`) is at `value` of `total`; `text` says so in words. A new key starts a new bar. */
  update(step: { key: string; value: number; total: number; text: string }): void;
  stop(): void;
}

interface StepProgressOptions {
  /** The bar's cli-progress format; `{text}` is the step's words. */
  format: string;
  barsize?: number;
  stream?: NodeJS.WriteStream;
  /** When not a terminal: the step's words on a new step, at its end, and at most this often between; none when left out. */
  lineEveryMs?: number;
  now?: () => number;
}

export function startStepProgress(options: StepProgressOptions): StepProgress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  let current: string | undefined;
  if (stream.isTTY) {
    let bar: SingleBar | undefined;
    return {
      update({ key, value, total, text }) {
        if (key !== current) {
          bar?.stop();
          bar = new SingleBar({ format: options.format, stream, hideCursor: true, ...(options.barsize ? { barsize: options.barsize } : {}) });
          bar.start(Math.max(1, total), 0, { text });
          current = key;
        }
        bar?.setTotal(Math.max(1, total));
        bar?.update(value, { text });
      },
      stop() {
        bar?.stop();
      },
    };
  }
  const every = options.lineEveryMs;
  let lastLine = 0;
  return {
    update({ key, value, total, text }) {
      if (every === undefined) return;
      const t = now();
      if (key !== current || t - lastLine > every || (total > 0 && value === total)) {
        stream.write(`${text}\n`);
        lastLine = t;
        current = key;
      }
    },
    stop() {},
  };
}

/** A catalog download (`models pull`, or `chat` on a catalog model): bytes, speed and time left per file; or JSON lines on stdout. */
export function startDownloadProgress(options: { json?: boolean; stream?: NodeJS.WriteStream } = {}): { update(p: PullProgress): void; stop(): void } {
  if (options.json) return { update: (p) => void process.stdout.write(`${JSON.stringify({ type: "progress", ...p })}\n`), stop() {} };
  const steps = startStepProgress({
    format: "[{bar}] {percentage}% {text}",
    barsize: 24,
    lineEveryMs: 5000,
    ...(options.stream ? { stream: options.stream } : {}),
  });
  return {
    update: (p) => steps.update({ key: `${p.step}/${p.file}/${p.phase}`, value: p.loaded, total: p.total, text: describePullProgress(p) }),
    stop: () => steps.stop(),
  };
}
