/**
 * One verified download: a file arrives under a temporary name (`<name>.partial`) and takes its real name only once
 * its size, its kind (a whole GGUF, a zip) and its SHA-256 (where known) check out. So a file at its real name is
 * always a good one, and a failed download leaves nothing that looks like a model.
 *
 * An interrupted download resumes with an HTTP Range request (guarded by If-Range, so a file that changed on the
 * server starts over); a connection cut mid-file is retried from the byte it reached. Free disk space is checked
 * first. Every failure is a DownloadError whose message names the URL and the folder, in plain words.
 *
 * Written on fetch rather than node-llama-cpp's downloader (ipull): that one resumes only at 5 MiB chunk boundaries
 * (a cut small file restarts from byte 0), retries an unreachable server for minutes without heeding cancellation,
 * takes a body that ends early for complete, and renames to the final name itself, leaving no point to verify.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, statfs, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { describeStart, fileStart, verifyGguf } from "../gguf/verify.js";
import { GGUF_MAGIC } from "../gguf/format.js";

/** How long a server may take to answer (name lookup, connection, headers; for a small document, all of it). */
const defaultAnswerMs = 15_000;

/**
 * A small document (a hub listing, a PyPI index) fetched whole within `answerMs`: a server that does not answer in
 * time fails as offline, in words, instead of after the network stack's own minutes; the caller's signal cancels it.
 * `what` says what it was for ("list the files of user/repo").
 */
export async function fetchSmall(
  url: string,
  what: string,
  options: { headers?: Record<string, string>; signal?: AbortSignal; answerMs?: number } = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const answerMs = options.answerMs ?? defaultAnswerMs;
  const timeout = AbortSignal.timeout(answerMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const host = new URL(url).host;
  try {
    const response = await fetch(url, { ...(options.headers ? { headers: options.headers } : {}), signal });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } catch (error) {
    if (options.signal?.aborted) throw new DownloadError("cancelled", `Stopped: it was to ${what}.`, url);
    if (timeout.aborted)
      throw new DownloadError(
        "offline",
        `${host} did not answer within ${Math.round(answerMs / 1000)} s when asked to ${what}: check the network connection.`,
        url,
      );
    throw new DownloadError("offline", `Cannot reach ${host} to ${what}: check the network connection (${describeNetworkError(error)}).`, url);
  }
}

function describeNetworkError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}, ${message}` : message;
}

/** What to do about a gated or private repository, in both places a token is given. */
export const accessTokenHint =
  "Accept its terms on the website, then give an access token: in VS Code, ClarifyCoder: Choose Model… → Set Hugging Face token…; in a terminal, the HF_TOKEN environment variable.";
type DownloadKind = "gguf" | "zip" | "any";

export type DownloadFailure =
  | "offline"
  | "not-found"
  | "access-denied"
  | "disk-full"
  | "wrong-content"
  | "size-mismatch"
  | "checksum-mismatch"
  | "stalled"
  | "connection-lost"
  | "cancelled"
  | "server-error";

export class DownloadError extends Error {
  override name = "DownloadError";
  constructor(
    readonly reason: DownloadFailure,
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

export interface DownloadProgress {
  /** Bytes of the file on disk so far (resumed bytes included). */
  loaded: number;
  /** The file's size, or 0 while unknown. */
  total: number;
  /** Over this attempt's transfer. */
  bytesPerSecond: number;
  /** Seconds left at that speed, when the size is known. */
  secondsLeft?: number;
  /** Bytes that were already there from an earlier attempt (0 for a fresh start). */
  resumedFrom: number;
}

export interface DownloadRequest {
  url: string;
  /** The file's final path; it exists only once verified. */
  destination: string;
  /** Sent with every request (an Authorization header for a private repository, say). */
  headers?: Record<string, string>;
  expected?: { size?: number; sha256?: string };
  kind: DownloadKind;
  /** Nothing received for this long stops the attempt (default 60 s). */
  stallMs?: number;
  /** No answer from the server (name lookup, connection, headers) for this long fails as offline (default 15 s). */
  connectMs?: number;
  /** Retries, each resuming where the last stopped, after a connection drops mid-file (default 3). */
  retries?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

interface Downloaded {
  path: string;
  size: number;
  /** Absent when the file was already there (it was verified when it arrived). */
  sha256?: string;
  resumedFrom: number;
  alreadyPresent: boolean;
}

/** What is kept beside a partial file, so that only the same file on the same server is resumed. */
interface PartialInfo {
  url: string;
  validator?: string;
  total?: number;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

export function partialPath(destination: string): string {
  return `${destination}.partial`;
}

/** Disk space free for this process in `dir` (or undefined where the platform cannot say). */
async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** A file's size, or undefined when it is missing or not a file. */
export async function sizeOf(file: string): Promise<number | undefined> {
  try {
    const s = await stat(file);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

async function hashInto(hash: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

const networkCodes = new Set([
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNREFUSED",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "ECONNRESET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "EPIPE",
]);

function errorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let i = 0; i < 4 && typeof e === "object" && e !== null; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Downloads `request.url` to `request.destination`, verified. Resolves at once when the file is already there. */
export async function download(request: DownloadRequest): Promise<Downloaded> {
  const { url, destination } = request;
  const folder = path.dirname(destination);
  const where = `${url} into ${folder}`;
  const existing = await sizeOf(destination);
  if (existing !== undefined && (request.expected?.size === undefined || request.expected.size === existing)) {
    return { path: destination, size: existing, resumedFrom: 0, alreadyPresent: true };
  }
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    throw new DownloadError("disk-full", `Cannot create the folder ${folder} for ${url}: ${errorCode(error) ?? String(error)}.`, url);
  }
  const retries = request.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptDownload(request, where);
    } catch (error) {
      if (!(error instanceof DownloadError) || error.reason !== "connection-lost" || attempt >= retries) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * (attempt + 1)));
      if (request.signal?.aborted) throw new DownloadError("cancelled", `The download of ${where} was cancelled; run it again to resume.`, url);
    }
  }
}

async function attemptDownload(request: DownloadRequest, where: string): Promise<Downloaded> {
  const { url, destination } = request;
  const folder = path.dirname(destination);
  const partial = partialPath(destination);
  const infoFile = `${partial}.json`;
  const stallMs = request.stallMs ?? 60_000;
  const connectMs = request.connectMs ?? defaultAnswerMs;

  let info: PartialInfo | undefined;
  try {
    info = JSON.parse(await readFile(infoFile, "utf8")) as PartialInfo;
  } catch {
    info = undefined;
  }
  let offset = (await sizeOf(partial)) ?? 0;
  if (offset > 0 && (info?.url !== url || (request.expected?.size !== undefined && offset >= request.expected.size))) offset = 0;
  if (offset === 0) await rm(partial, { force: true });

  const expectedSize = request.expected?.size ?? info?.total;
  const free = await freeBytes(folder);
  if (expectedSize !== undefined && free !== undefined && free < expectedSize - offset) {
    throw new DownloadError("disk-full", `Not enough disk space for ${where}: it needs ${mb(expectedSize - offset)} and ${mb(free)} is free.`, url);
  }

  const controller = new AbortController();
  let stalled = false;
  /** Until the server's headers arrive: a silent server then is unreachable, not stalled. */
  let connecting = true;
  let timer: NodeJS.Timeout | undefined;
  const watch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(
      () => {
        stalled = true;
        controller.abort();
      },
      connecting ? connectMs : stallMs,
    );
  };
  const onCancel = (): void => controller.abort();
  request.signal?.addEventListener("abort", onCancel, { once: true });
  if (request.signal?.aborted) controller.abort();
  let received = offset;
  const failed = (error: unknown): DownloadError => {
    if (error instanceof DownloadError) return error;
    if (request.signal?.aborted) {
      return new DownloadError("cancelled", `The download of ${where} was cancelled at ${mb(received)}; run it again to resume from there.`, url);
    }
    if (stalled && connecting) {
      return new DownloadError(
        "offline",
        `${new URL(url).host} did not answer within ${Math.round(connectMs / 1000)} s to download ${where}: check the network connection (nothing was saved in ${folder}).`,
        url,
      );
    }
    if (stalled) {
      return new DownloadError(
        "stalled",
        `The download of ${where} received nothing for ${Math.round(stallMs / 1000)} s (at ${mb(received)}), so it was stopped; run it again to resume.`,
        url,
      );
    }
    const code = errorCode(error);
    if (code === "ENOSPC")
      return new DownloadError("disk-full", `The disk is full: ${where} stopped at ${mb(received)}. Free some space and run it again to resume.`, url);
    if (
      received > offset ||
      code === "ECONNRESET" ||
      code === "UND_ERR_SOCKET" ||
      (error instanceof Error && /terminated|other side closed/i.test(error.message))
    ) {
      return new DownloadError("connection-lost", `The connection dropped during ${where} at ${mb(received)}; run it again to resume from there.`, url);
    }
    if (code && networkCodes.has(code)) {
      return new DownloadError("offline", `Cannot reach ${new URL(url).host} to download ${where} (${code}): check the network connection.`, url);
    }
    return new DownloadError("server-error", `Could not download ${where}: ${error instanceof Error ? error.message : String(error)}.`, url);
  };

  let handle: FileHandle | undefined;
  try {
    watch();
    const headers: Record<string, string> = { "accept-encoding": "identity", ...request.headers };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (info?.validator) headers["if-range"] = info.validator;
    }
    const response = await fetch(url, { headers, signal: controller.signal, redirect: "follow" });
    // The server answered; the stall clock starts with the transfer (after a resumed file is hashed).
    connecting = false;
    clearTimeout(timer);
    if (response.status === 404 || response.status === 410) {
      throw new DownloadError(
        "not-found",
        `Not found (HTTP ${response.status}): ${url} (nothing was saved in ${folder}). Check the name and the revision.`,
        url,
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new DownloadError(
        "access-denied",
        `Access denied (HTTP ${response.status}) to ${url} (nothing was saved in ${folder}): the repository may be gated or private. ${accessTokenHint}`,
        url,
      );
    }
    if (response.status === 416 && offset > 0) {
      await rm(partial, { force: true });
      throw new DownloadError("connection-lost", `The server refused to resume ${where}; starting over.`, url);
    }
    if (response.status >= 500) throw new DownloadError("connection-lost", `The server failed (HTTP ${response.status}) during ${where}.`, url);
    if (!response.ok || !response.body)
      throw new DownloadError("server-error", `Unexpected answer HTTP ${response.status} ${response.statusText} for ${where}.`, url);

    // A 200 to a Range request: the server cannot resume, or the file changed (If-Range). Start over.
    let start = 0;
    if (response.status === 206) {
      const range = /bytes (\d+)-\d+\/(\d+|\*)/.exec(response.headers.get("content-range") ?? "");
      start = range ? Number(range[1]) : 0;
      if (start !== offset) throw new DownloadError("server-error", `The server resumed ${where} at the wrong place (${start}, asked ${offset}).`, url);
    }
    offset = start;
    received = start;
    const length = Number(response.headers.get("content-length") ?? NaN);
    const total = Number.isFinite(length) ? start + length : (request.expected?.size ?? 0);
    const contentType = response.headers.get("content-type") ?? "";
    if (request.kind !== "any" && /^text\/html/i.test(contentType)) {
      throw new DownloadError(
        "wrong-content",
        `${url} sent a web page (${contentType}) instead of the ${request.kind === "gguf" ? "model" : "file"}: nothing was saved in ${folder}.`,
        url,
      );
    }
    const expected = request.expected?.size;
    if (expected !== undefined && total > 0 && total !== expected) {
      throw new DownloadError(
        "size-mismatch",
        `${url} is ${total.toLocaleString("en-US")} bytes, but ${expected.toLocaleString("en-US")} were expected: nothing was saved in ${folder}.`,
        url,
      );
    }
    if (total > 0 && free !== undefined && free < total - start) {
      throw new DownloadError("disk-full", `Not enough disk space for ${where}: it needs ${mb(total - start)} and ${mb(free)} is free.`, url);
    }
    const validator = response.headers.get("etag") ?? response.headers.get("last-modified") ?? undefined;
    await writeFile(infoFile, JSON.stringify({ url, ...(validator ? { validator } : {}), ...(total > 0 ? { total } : {}) } satisfies PartialInfo));

    const hash = createHash("sha256");
    if (start > 0) await hashInto(hash, partial);
    // Hashing a large partial file takes a while; the stall clock starts with the transfer.
    watch();
    handle = await open(partial, start > 0 ? "a" : "w");
    const began = performance.now();
    let lastReport = 0;
    const report = (force: boolean): void => {
      const now = performance.now();
      if (!force && now - lastReport < 100) return;
      lastReport = now;
      const bytesPerSecond = (received - start) / Math.max(0.001, (now - began) / 1000);
      request.onProgress?.({
        loaded: received,
        total,
        bytesPerSecond,
        ...(total > 0 && bytesPerSecond > 0 ? { secondsLeft: (total - received) / bytesPerSecond } : {}),
        resumedFrom: start,
      });
    };
    report(true);
    let checkedMagic = start > 0;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      watch();
      if (!checkedMagic && received + chunk.length >= 4) {
        checkedMagic = true;
        const head = Buffer.from(chunk.subarray(0, 64));
        if (request.kind === "gguf" && head.subarray(0, 4).toString("latin1") !== GGUF_MAGIC) {
          throw new DownloadError(
            "wrong-content",
            `${url} is not a GGUF model file: it starts with ${describeStart(head)}. Nothing was saved in ${folder}.`,
            url,
          );
        }
        if (request.kind === "zip" && head.readUInt32LE(0) !== 0x04034b50) {
          throw new DownloadError("wrong-content", `${url} is not a zip archive: it starts with ${describeStart(head)}. Nothing was saved in ${folder}.`, url);
        }
      }
      await handle.write(chunk);
      hash.update(chunk);
      received += chunk.length;
      report(false);
    }
    await handle.close();
    handle = undefined;
    report(true);
    if (total > 0 && received < total) {
      throw new DownloadError(
        "connection-lost",
        `The connection dropped during ${where} at ${mb(received)} of ${mb(total)}; run it again to resume from there.`,
        url,
      );
    }
    return await finish(request, partial, infoFile, received, hash.digest("hex"), offset, where);
  } catch (error) {
    const failure = failed(error);
    await handle?.close().catch(() => undefined);
    // Bytes that can be resumed are kept; a file that is wrong is not.
    if (!["connection-lost", "stalled", "cancelled", "disk-full", "offline"].includes(failure.reason)) {
      await rm(partial, { force: true });
      await rm(infoFile, { force: true });
    }
    throw failure;
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", onCancel);
  }
}

async function finish(
  request: DownloadRequest,
  partial: string,
  infoFile: string,
  size: number,
  sha256: string,
  resumedFrom: number,
  where: string,
): Promise<Downloaded> {
  const { url, destination } = request;
  const folder = path.dirname(destination);
  const refuse = (reason: DownloadFailure, why: string): DownloadError =>
    new DownloadError(reason, `The download of ${where} was refused: ${why}. Nothing was saved in ${folder}.`, url);
  if (request.expected?.size !== undefined && size !== request.expected.size) {
    throw refuse("size-mismatch", `it is ${size.toLocaleString("en-US")} bytes, but ${request.expected.size.toLocaleString("en-US")} were expected`);
  }
  if (request.expected?.sha256 && request.expected.sha256.toLowerCase() !== sha256) {
    throw refuse(
      "checksum-mismatch",
      `its SHA-256 is ${sha256}, but ${request.expected.sha256.toLowerCase()} was expected (the file is damaged or not the one published)`,
    );
  }
  if (request.kind === "gguf") {
    try {
      await verifyGguf(partial, size);
    } catch (error) {
      throw refuse("wrong-content", error instanceof Error ? error.message : String(error));
    }
  } else if (request.kind === "zip") {
    const head = await fileStart(partial, 4);
    if (head.length < 4 || head.readUInt32LE(0) !== 0x04034b50) throw refuse("wrong-content", "it is not a zip archive");
  }
  await rename(partial, destination);
  await rm(infoFile, { force: true });
  return { path: destination, size, sha256, resumedFrom, alreadyPresent: false };
}
