/**
 * Downloads (or finds already downloaded) a model with node-llama-cpp's downloader. Its transport retries a failing
 * connection for many minutes; a download that makes no progress for `downloadStallMs` is stopped with a reason
 * instead.
 */
import { resolveModelFile } from "node-llama-cpp";
import { WorkerError, type LoadParams } from "../protocol.js";
import { messageOf, retireAfterReply, type RequestContext } from "./channel.mjs";

export async function downloadModel(params: LoadParams, request: RequestContext<"load">): Promise<string> {
  const { signal } = request;
  const stallMs = params.downloadStallMs ?? 60_000;
  const stalled = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const watch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => stalled.abort(), stallMs);
  };
  const onCancel = (): void => stalled.abort();
  signal.addEventListener("abort", onCancel, { once: true });
  watch();
  let received = -1;
  const gaveUp = new Promise<never>((_, reject) => {
    stalled.signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true });
  });
  try {
    return await Promise.race([gaveUp, resolveModelFile(params.model, {
      ...(params.modelsDirectory ? { directory: params.modelsDirectory } : {}),
      cli: false,
      signal: stalled.signal,
      deleteTempFileOnCancel: false,
      onProgress: ({ totalSize, downloadedSize }) => {
        if (downloadedSize !== received) watch();
        received = downloadedSize;
        request.emit({ kind: "download", loaded: downloadedSize, total: totalSize });
      },
    })]);
  } catch (error) {
    if (stalled.signal.aborted) retireAfterReply();
    if (signal.aborted) throw new WorkerError("download-failed", `The download of ${params.model} was cancelled.`);
    if (stalled.signal.aborted) {
      const got = received > 0 ? ` after ${(received / 1e6).toFixed(1)} MB` : "";
      throw new WorkerError("download-failed", `The download of ${params.model} stopped making progress${got} for ${Math.round(stallMs / 1000)} s (the connection keeps failing), so it was stopped. Try again when the connection works.`);
    }
    throw new WorkerError("download-failed", `Could not download ${params.model}: ${messageOf(error)}`);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onCancel);
  }
}
