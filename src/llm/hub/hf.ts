/**
 * The Hugging Face hub, as far as downloads need it: the endpoint (the same rule as node-llama-cpp's: an explicit
 * one, else MODEL_ENDPOINT, else HF_ENDPOINT, else huggingface.co), `hf:` URIs, a repository's file listing (which
 * also gives each large file's size and SHA-256, so every hub download is verified), and the token header.
 */
import { accessTokenHint, DownloadError, fetchSmall } from "./download.js";

export interface HubOptions {
  /** Stands in for https://huggingface.co/ (tests point it at a local server). */
  endpoint?: string;
  /** An access token for gated or private repositories; sent to the hub only. */
  token?: string;
  signal?: AbortSignal;
  /** How long the hub may take to answer a listing (default 15 s). */
  answerMs?: number;
}

export interface HubFile {
  path: string;
  size: number;
  /** SHA-256 of the content, for files stored with Git LFS (every model and safetensors file). */
  sha256?: string;
}

interface HfReference {
  repo: string;
  /** A file path in the repository; absent for `hf:user/repo:quant`, resolved from the listing. */
  file?: string;
  quant?: string;
  revision: string;
}

/** The hub token for gated repositories, from the environment (the extension keeps it in VS Code's secret storage). */
export function hubTokenFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
}

export function hubEndpoint(endpoint?: string): string {
  const chosen = endpoint ?? process.env.MODEL_ENDPOINT ?? process.env.HF_ENDPOINT ?? "https://huggingface.co/";
  return chosen.endsWith("/") ? chosen : `${chosen}/`;
}

/** Reads `hf:user/repo/path/file.gguf#revision` or `hf:user/repo:quant`. */
export function parseHfUri(uri: string): HfReference | undefined {
  const m = /^(?:hf:|huggingface:)(?:\/\/)?([^/\s#:]+)\/([^/\s#:]+)(?::([^/\s#]+)|\/([^#\s]+))?(?:#(\S+))?$/.exec(uri.trim());
  if (!m) return undefined;
  const [, user, name, quant, file, revision] = m;
  return { repo: `${user}/${name}`, ...(file ? { file } : {}), ...(quant ? { quant } : {}), revision: revision ?? "main" };
}

export function hubFileUrl(repo: string, file: string, revision = "main", endpoint?: string): string {
  const encoded = file.split("/").map(encodeURIComponent).join("/");
  return `${hubEndpoint(endpoint)}${repo}/resolve/${encodeURIComponent(revision)}/${encoded}`;
}

export function hubHeaders(options: HubOptions): Record<string, string> {
  return options.token ? { authorization: `Bearer ${options.token}` } : {};
}

interface TreeEntry {
  type?: unknown;
  path?: unknown;
  size?: unknown;
  lfs?: { oid?: unknown; size?: unknown } | null;
}

/** Every file of a repository at a revision (the hub's tree API, followed across pages). */
export async function listHubFiles(repo: string, revision: string, options: HubOptions = {}): Promise<HubFile[]> {
  let url: string | undefined = `${hubEndpoint(options.endpoint)}api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const files: HubFile[] = [];
  for (let page = 0; url && page < 100; page++) {
    const response = await fetchSmall(url, `list the files of ${repo}`, {
      headers: hubHeaders(options),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.answerMs ? { answerMs: options.answerMs } : {}),
    });
    if (response.status === 404)
      throw new DownloadError("not-found", `The repository ${repo} (revision ${revision}) was not found at ${hubEndpoint(options.endpoint)}.`, url);
    if (response.status === 401 || response.status === 403) {
      throw new DownloadError("access-denied", `Access denied (HTTP ${response.status}) to ${repo}: it may be gated or private. ${accessTokenHint}`, url);
    }
    if (response.status < 200 || response.status >= 300)
      throw new DownloadError("server-error", `Listing the files of ${repo} failed: HTTP ${response.status}.`, url);
    let body: unknown;
    try {
      body = JSON.parse(response.text);
    } catch {
      throw new DownloadError("wrong-content", `The file listing of ${repo} from ${url} is not JSON.`, url);
    }
    if (!Array.isArray(body)) throw new DownloadError("wrong-content", `The file listing of ${repo} from ${url} is not a list.`, url);
    for (const entry of body as TreeEntry[]) {
      if (entry.type !== "file" || typeof entry.path !== "string" || typeof entry.size !== "number") continue;
      const sha256 = typeof entry.lfs?.oid === "string" && /^[0-9a-f]{64}$/.test(entry.lfs.oid) ? entry.lfs.oid : undefined;
      const size = typeof entry.lfs?.size === "number" ? entry.lfs.size : entry.size;
      files.push({ path: entry.path, size, ...(sha256 ? { sha256 } : {}) });
    }
    const next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("link") ?? "");
    url = next?.[1] ? new URL(next[1], url).toString() : undefined;
  }
  return files;
}

/** The .gguf file of a repository that matches a quantisation name (`Q4_K_M`), for `hf:user/repo:quant`. */
export function pickQuantFile(files: readonly HubFile[], quant: string): HubFile | undefined {
  const wanted = quant.toLowerCase().replace(/-/g, "_");
  const ggufs = files.filter((f) => f.path.toLowerCase().endsWith(".gguf") && !/-\d{5}-of-\d{5}\.gguf$/i.test(f.path));
  return ggufs.find((f) => f.path.toLowerCase().replace(/-/g, "_").includes(wanted));
}
