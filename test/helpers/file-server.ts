/**
 * A real HTTP server on 127.0.0.1 serving files with range requests, standing in for the model hub and PyPI. Each
 * path can be told to misbehave (cut the connection, send a short body, an HTML page, a 404, stall, go slowly), and
 * every request is recorded with its Range header.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Behaviour =
  | { kind: "ok" }
  /**
   * Sends the headers for the whole file, `at` bytes, then destroys the socket a moment later (fetch discards bytes it
   * has received but not yet handed over when the socket dies, so the pause lets the client take them first).
   */
  | { kind: "cut"; at: number }
  /** A body of `length` bytes with a matching Content-Length. */
  | { kind: "short"; length: number }
  | { kind: "html" }
  | { kind: "status"; code: number }
  /** Sends the headers and `at` bytes, then nothing. */
  | { kind: "stall"; at: number }
  /** Sends `chunk` bytes every `everyMs`. */
  | { kind: "slow"; chunk: number; everyMs: number };

export interface Served {
  body: Buffer;
  contentType?: string;
  /** Used for the next request only, then "ok". */
  once?: Behaviour;
  behaviour?: Behaviour;
}

export interface RecordedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface FileServer {
  url: string;
  files: Map<string, Served>;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, Served>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const pathname = decodeURIComponent(url.pathname);
    requests.push({
      method: req.method ?? "GET",
      path: pathname + url.search,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const served = files.get(pathname + url.search) ?? files.get(pathname);
    if (!served) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const behaviour = served.once ?? served.behaviour ?? { kind: "ok" };
    served.once = undefined;
    const body = served.body;
    if (behaviour.kind === "status") {
      res.writeHead(behaviour.code, { "content-type": "text/plain" }).end(`status ${behaviour.code}`);
      return;
    }
    if (behaviour.kind === "html") {
      const page = Buffer.from("<!DOCTYPE html><html><body>Please log in</body></html>");
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length }).end(page);
      return;
    }
    if (behaviour.kind === "short") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": behaviour.length, "accept-ranges": "bytes" });
      res.end(body.subarray(0, behaviour.length));
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const headers: Record<string, string | number> = {
      "content-type": served.contentType ?? "application/octet-stream",
      "accept-ranges": "bytes",
      etag: `"${body.length}"`,
    };
    // If-Range: a partial copy of another version of the file gets the whole file, not a range of this one.
    const ifRange = req.headers["if-range"];
    if (range && (ifRange === undefined || ifRange === headers.etag)) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, "content-length": body.length - start, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { ...headers, "content-length": body.length });
    }
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const rest = body.subarray(start);
    switch (behaviour.kind) {
      case "ok":
        res.end(rest);
        return;
      case "cut":
        res.write(rest.subarray(0, Math.max(0, behaviour.at - start)), () => setTimeout(() => res.destroy(), 100));
        return;
      case "stall":
        res.write(rest.subarray(0, Math.max(0, behaviour.at - start)));
        return;
      case "slow": {
        let sent = 0;
        const tick = (): void => {
          if (res.destroyed) return;
          const piece = rest.subarray(sent, sent + behaviour.chunk);
          sent += piece.length;
          if (sent >= rest.length) {
            res.end(piece);
            return;
          }
          res.write(piece);
          const t = setTimeout(tick, behaviour.everyMs);
          timers.add(t);
        };
        tick();
        return;
      }
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    files,
    requests,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
