/** Hub names and listings: hf: URIs, file URLs, picking a quantisation, finding a PEFT adapter's two files. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { DownloadError } from "../../src/llm/hub/download.js";
import { hubEndpoint, hubFileUrl, parseHfUri, pickQuantFile } from "../../src/llm/hub/hf.js";
import { findAdapterFiles } from "../../src/llm/hub/library.js";
import { catalogIdOf, formatBytes } from "../../src/llm/hub/catalog.js";

it("reads hf: URIs with a file path, a revision, or a quantisation", () => {
  assert.deepEqual(parseHfUri("hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"), {
    repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    revision: "main",
  });
  assert.deepEqual(parseHfUri("hf:user/repo/sub/dir/m.gguf#v2"), { repo: "user/repo", file: "sub/dir/m.gguf", revision: "v2" });
  assert.deepEqual(parseHfUri("hf:bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M"), {
    repo: "bartowski/Qwen2.5-Coder-7B-Instruct-GGUF",
    quant: "Q4_K_M",
    revision: "main",
  });
  assert.equal(parseHfUri("https://example.com/m.gguf"), undefined);
  assert.equal(parseHfUri("hf:onlyuser"), undefined);
});

it("builds file URLs on the endpoint, encoding each path part", () => {
  assert.equal(hubFileUrl("u/r", "a dir/m#1.gguf", "main", "http://127.0.0.1:9000"), "http://127.0.0.1:9000/u/r/resolve/main/a%20dir/m%231.gguf");
  assert.equal(hubEndpoint("https://mirror.example"), "https://mirror.example/");
});

it("picks the .gguf of a quantisation, not a split part", () => {
  const files = [
    { path: "m-Q8_0.gguf", size: 1 },
    { path: "m-Q4_K_M-00001-of-00002.gguf", size: 1 },
    { path: "m-Q4_K_M.gguf", size: 1 },
  ];
  assert.equal(pickQuantFile(files, "q4_k_m")?.path, "m-Q4_K_M.gguf");
  assert.equal(pickQuantFile(files, "Q2_K"), undefined);
});

it("finds a PEFT adapter's two files at the root or in the one folder holding both, and says what it saw otherwise", () => {
  const f = (path: string) => ({ path, size: 1 });
  assert.equal(
    findAdapterFiles([f("run/adapter_config.json"), f("run/adapter_model.safetensors"), f("README.md")], "a/b").weights.path,
    "run/adapter_model.safetensors",
  );
  const rootAndRun = [f("adapter_config.json"), f("adapter_model.safetensors"), f("run/adapter_config.json"), f("run/adapter_model.safetensors")];
  assert.equal(findAdapterFiles(rootAndRun, "a/b").config.path, "adapter_config.json");
  assert.throws(
    () => findAdapterFiles([f("x/adapter_config.json"), f("x/adapter_model.safetensors"), f("y/adapter_config.json"), f("y/adapter_model.safetensors")], "a/b"),
    /several adapters \(x, y\)/,
  );
  assert.throws(
    () => findAdapterFiles([f("run/adapter_config.json"), f("README.md")], "jie-jw-wu/clarify-coder"),
    (e: unknown) =>
      e instanceof DownloadError && e.reason === "not-found" && /no folder with both .*its files: run\/adapter_config\.json, README\.md/.test(e.message),
  );
});

it("catalog names and sizes in words", () => {
  assert.equal(catalogIdOf("catalog:qwen2.5-coder-1.5b"), "qwen2.5-coder-1.5b");
  assert.equal(catalogIdOf("/models/x.gguf"), undefined);
  assert.equal(formatBytes(1_117_320_768), "1.1 GB");
  assert.equal(formatBytes(98_362_432), "98 MB");
});
