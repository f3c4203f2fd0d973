/**
 * A model named by a URI in a `load` request, downloaded in the worker through the same verified download as every
 * other model (library.ts). The command line and the extension download before they load; this serves any other
 * caller of the worker's protocol.
 */
import { ModelLibrary } from "../library.js";
import { defaultModelsDirectory } from "../model-source.js";
import { WorkerError, type LoadParams } from "../protocol.js";
import { messageOf, type RequestContext } from "./channel.mjs";

export async function downloadModel(params: LoadParams, request: RequestContext<"load">): Promise<string> {
  const library = new ModelLibrary({
    directory: params.modelsDirectory ?? defaultModelsDirectory(),
    ...(params.downloadStallMs !== undefined ? { stallMs: params.downloadStallMs } : {}),
  });
  try {
    return await library.pullUri(params.model, {
      signal: request.signal,
      onProgress: (p) => request.emit({ kind: "download", loaded: p.loaded, total: p.total }),
    });
  } catch (error) {
    throw new WorkerError("download-failed", messageOf(error));
  }
}
