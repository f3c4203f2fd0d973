/**
 * The extension's rules for a served model: an address is checked and written so that the one door reads it back;
 * a workspace's settings never send code to a server the user did not choose; an API key goes to its origin only.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allowKey, checkServedAddress, servedDecision, servedModelSetting, servedSpecOf, settingSource } from "../../src/extension/model/served-choice.js";
import { ServedKeys, servedKeyName } from "../../src/extension/model/secrets.js";

describe("a served model's address", () => {
  it("is told apart from the local kinds, and its model name read back from the setting the picker writes", () => {
    for (const name of ["qwen2.5-coder:1.5b", "Qwen/Qwen2.5-Coder-1.5B-Instruct", "my model #2", "100%"]) {
      const setting = servedModelSetting("http://127.0.0.1:11434/v1/", name);
      assert.deepEqual(servedSpecOf(setting), { baseUrl: "http://127.0.0.1:11434/v1", model: name }, setting);
    }
    assert.equal(servedModelSetting("http://127.0.0.1:11434", "qwen2.5-coder:1.5b"), "http://127.0.0.1:11434/v1#qwen2.5-coder:1.5b");
    assert.deepEqual(servedSpecOf("https://gpu.example.com:8000/v1"), { baseUrl: "https://gpu.example.com:8000/v1" });
    for (const local of ["", "catalog:qwen2.5-coder-0.5b", "/models/x.gguf", "hf:Qwen/repo/file.gguf", "https://example.com/models/x.gguf"]) {
      assert.equal(servedSpecOf(local), undefined, local);
    }
  });

  it("typed in the picker: an http(s) URL of a server, each other input refused in a sentence", () => {
    assert.equal(checkServedAddress(" http://127.0.0.1:8080/v1 "), undefined);
    assert.equal(checkServedAddress("https://gpu.example.com"), undefined);
    assert.match(checkServedAddress("127.0.0.1:8080") ?? "", /^Enter the server's address, starting with http:\/\/ or https:\/\//);
    assert.match(checkServedAddress("ftp://host/v1") ?? "", /starting with http:\/\//);
    assert.match(checkServedAddress("http://exa mple.com") ?? "", /is not a valid URL/);
    assert.match(checkServedAddress("https://host/models/x.gguf") ?? "", /a \.gguf file to download, not a server/);
  });
});

describe("whose setting it is, and whether code may go there", () => {
  const url = "http://10.0.0.5:8000/v1#coder";
  it("the user's own settings win whenever they hold that value; else the workspace's; else no one's", () => {
    assert.equal(settingSource({ globalValue: url }, url), "user");
    assert.equal(settingSource({ globalValue: url, workspaceValue: url }, url), "user");
    assert.equal(settingSource({ globalValue: "catalog:x", workspaceValue: url }, url), "workspace");
    assert.equal(settingSource({ workspaceFolderValue: ` ${url} ` }, url), "workspace");
    // A value that no scope VS Code told of holds is not taken for the user's.
    assert.equal(settingSource({}, url), "workspace");
    assert.equal(settingSource(undefined, ""), "default");
  });

  it("the user's choice is used; an untrusted workspace's is refused; a trusted one's asks once per address", () => {
    const baseUrl = "http://10.0.0.5:8000/v1";
    assert.deepEqual(servedDecision({ baseUrl, source: "user", trusted: false, allowed: [] }), { kind: "use" });
    const refused = servedDecision({ baseUrl, source: "workspace", trusted: false, allowed: [baseUrl] });
    assert.equal(refused.kind, "refuse");
    assert.match(
      refused.kind === "refuse" ? refused.message : "",
      /^This workspace's settings name a served model \(http:\/\/10\.0\.0\.5:8000\/v1\), and the workspace is not trusted: no code is sent there\./,
    );
    assert.deepEqual(servedDecision({ baseUrl, source: "workspace", trusted: true, allowed: [] }), { kind: "ask", address: baseUrl });
    assert.deepEqual(servedDecision({ baseUrl: `${baseUrl}/`, source: "workspace", trusted: true, allowed: [allowKey(baseUrl)] }), { kind: "use" });
    // Allowed is per address: another port, path or scheme is asked about again.
    for (const other of ["http://10.0.0.5:8001/v1", "https://10.0.0.5:8000/v1", "http://10.0.0.5:8000/other/v1"]) {
      assert.equal(servedDecision({ baseUrl: other, source: "workspace", trusted: true, allowed: [baseUrl] }).kind, "ask", other);
    }
  });
});

describe("API keys, by the server's origin", () => {
  class MemorySecrets {
    readonly data = new Map<string, string>();
    async get(key: string): Promise<string | undefined> {
      return this.data.get(key);
    }
    async store(key: string, value: string): Promise<void> {
      this.data.set(key, value);
    }
    async delete(key: string): Promise<void> {
      this.data.delete(key);
    }
  }

  it("a key set for one server is the same for every path there, and never another host's, port's or scheme's", async () => {
    assert.equal(servedKeyName("http://127.0.0.1:8080/v1"), "clarifycoder.apiKey:http://127.0.0.1:8080");
    const secrets = new MemorySecrets();
    const keys = new ServedKeys(secrets);
    await keys.set("https://gpu.example.com/v1", "  sk-team  ");
    assert.equal(await keys.get("https://gpu.example.com/other/v1"), "sk-team");
    for (const other of ["http://gpu.example.com/v1", "https://gpu.example.com:8443/v1", "https://evil.example.com/v1"])
      assert.equal(await keys.get(other), undefined, other);
    await keys.set("https://gpu.example.com/v1", "");
    assert.equal(await keys.get("https://gpu.example.com/v1"), undefined, "an empty key forgets the saved one");
    assert.equal(secrets.data.size, 0);
  });
});
