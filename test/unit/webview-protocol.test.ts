import { test } from "node:test";
import assert from "node:assert/strict";
import { parseHostMessage, parseWebviewMessage, type HostMessage, type Intent, type WebviewMessage } from "../../src/core/webview-protocol.js";
import { protocolLimits } from "../../src/core/snapshot-schema.js";
import { webviewContentSecurityPolicy } from "../../src/core/webview-page.js";
import type { SessionSnapshot } from "../../src/core/types.js";

function snapshot(overrides: Partial<SessionSnapshot> = {}): SessionSnapshot {
  return {
    id: "s1",
    state: "asking",
    request: "Write a function that parses dates",
    context: { languageId: "typescript", fileName: "/src/dates.ts", selection: { text: "x", startLine: 3, endLine: 4 } },
    questions: [
      { id: "q1", round: 1, text: "Which formats?", suggestions: ["ISO 8601", "RFC 2822"], answer: "ISO 8601" },
      { id: "q2", round: 1, text: "Time zones?", suggestions: [], waived: true },
    ],
    rounds: 1,
    assumptions: ["Dates are UTC"],
    askProbability: 0.8,
    answer: "",
    codeBlocks: [],
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_500,
    ...overrides,
  };
}

function state(session: SessionSnapshot | null = snapshot()): HostMessage {
  return {
    type: "state",
    session,
    history: [{ id: "s1", title: "Parse dates", updatedAt: 1 }],
    model: { status: "ready", label: "qwen2.5-coder-1.5b-q4_k_m.gguf", backend: "CPU" },
    context: { chips: [{ id: "file", kind: "file", label: "dates.ts", description: "/src/dates.ts" }] },
  };
}

/** A clone through JSON, as a message would arrive: proves the valid fixtures are plain data. */
function viaJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

const validHost: HostMessage[] = [
  state(),
  state(null),
  state(snapshot({ state: "done", answer: "```ts\nx\n```", codeBlocks: [{ language: "ts", code: "x" }] })),
  state(snapshot({ state: "failed", failure: { message: "The model stopped", raw: '{"decision":' } })),
  state(snapshot({ context: {}, askProbability: undefined })),
  { type: "state", session: null, history: [], model: { status: "loading", label: "m", progress: 0.4 }, context: { chips: [] } },
  { type: "state", session: null, history: [], model: { status: "error", error: "bad file" }, context: { chips: [] } },
  { type: "state", session: null, history: [], model: { status: "none" }, context: { chips: [] } },
  { type: "chunk", sessionId: "s1", text: "more " },
  { type: "chunk", sessionId: "s1", text: "" },
  { type: "focusComposer" },
  { type: "focusComposer", draft: "Explain this" },
  { type: "reply", requestId: 1, ok: true },
  { type: "reply", requestId: 7, ok: true, message: "Copied." },
  { type: "reply", requestId: 9, ok: false, message: "Answer or waive every question first." },
];

const intents: Intent[] = [
  { type: "ready" },
  { type: "send", text: "Write a parser" },
  { type: "answer", sessionId: "s1", questionId: "q1", text: "ISO 8601" },
  { type: "waive", sessionId: "s1", questionId: "q1" },
  { type: "generate", sessionId: "s1" },
  { type: "stop", sessionId: "s1" },
  { type: "correctAssumption", sessionId: "s1", index: 0, text: "Dates are local time" },
  { type: "removeContext", chipId: "file" },
  ...(["insert", "replaceSelection", "previewDiff", "newFile", "copy"] as const).map(
    (action, blockIndex): Intent => ({ type: "codeAction", sessionId: "s1", blockIndex, action }),
  ),
  { type: "newChat" },
  { type: "openSession", id: "s2" },
  { type: "deleteSession", id: "s2" },
  { type: "pickModel" },
  { type: "openLink", url: "https://example.com/docs?q=1#x" },
  { type: "openLink", url: "http://localhost:8080/" },
];
/** Every request carries its id. */
const validWebview = intents.map((intent, i) => ({ ...intent, requestId: i + 1 }) as WebviewMessage);

test("valid host messages pass and come back equal (as fresh objects)", () => {
  for (const message of validHost) {
    const input = viaJson(message);
    const result = parseHostMessage(input);
    assert.ok(result.ok, `${JSON.stringify(message).slice(0, 120)}: ${result.ok ? "" : result.error}`);
    assert.deepEqual(result.message, input);
    assert.notEqual(result.message, input);
  }
});

test("valid webview messages pass", () => {
  for (const message of validWebview) {
    const result = parseWebviewMessage(viaJson(message));
    assert.ok(result.ok, `${JSON.stringify(message)}: ${result.ok ? "" : result.error}`);
    assert.deepEqual(result.message, message);
  }
});

test("the two directions do not accept each other's messages", () => {
  for (const message of validHost) assert.equal(parseWebviewMessage(viaJson(message)).ok, false, message.type);
  for (const message of validWebview) assert.equal(parseHostMessage(viaJson(message)).ok, false, message.type);
});

const huge = "x".repeat(protocolLimits.longText + 1);

/** Each entry: why it is bad, and the message. JSON text is used where the key itself is the trick. */
const malformedWebview: [string, unknown][] = [
  ["undefined", undefined],
  ["null", null],
  ["a string", "send"],
  ["a number", 42],
  ["an array", [{ requestId: 1, type: "ready" }]],
  ["a function", () => ({ requestId: 1, type: "ready" })],
  ["no type", { requestId: 1, text: "hi" }],
  ["no requestId", { type: "ready" }],
  ["requestId 0", { type: "ready", requestId: 0 }],
  ["requestId fractional", { type: "ready", requestId: 1.5 }],
  ["requestId a string", { type: "ready", requestId: "1" }],
  ["type not a string", { type: 1 }],
  ["unknown type", { requestId: 1, type: "exec", command: "rm -rf /" }],
  ["type with different case", { requestId: 1, type: "Send", text: "x" }],
  ["inherited type", Object.create({ requestId: 1, type: "ready" })],
  [
    "class instance",
    new (class Ready {
      type = "ready";
    })(),
  ],
  ["extra key", { requestId: 1, type: "ready", extra: 1 }],
  ["missing text", { requestId: 1, type: "send" }],
  ["empty text", { requestId: 1, type: "send", text: "" }],
  ["text a number", { requestId: 1, type: "send", text: 5 }],
  ["text an object", { requestId: 1, type: "send", text: { toString: "x" } }],
  ["text too long", { requestId: 1, type: "send", text: "x".repeat(protocolLimits.text + 1) }],
  ["huge string", { requestId: 1, type: "send", text: huge }],
  ["missing sessionId", { requestId: 1, type: "generate" }],
  ["empty sessionId", { requestId: 1, type: "generate", sessionId: "" }],
  ["id too long", { requestId: 1, type: "generate", sessionId: "s".repeat(protocolLimits.id + 1) }],
  ["answer without questionId", { requestId: 1, type: "answer", sessionId: "s1", text: "x" }],
  ["waive with text but no questionId", { requestId: 1, type: "waive", sessionId: "s1" }],
  ["stop without session", { requestId: 1, type: "stop" }],
  ["negative index", { requestId: 1, type: "correctAssumption", sessionId: "s", index: -1, text: "x" }],
  ["fractional index", { requestId: 1, type: "correctAssumption", sessionId: "s", index: 0.5, text: "x" }],
  ["NaN index", { requestId: 1, type: "codeAction", sessionId: "s", blockIndex: NaN, action: "copy" }],
  ["Infinity index", { requestId: 1, type: "codeAction", sessionId: "s", blockIndex: Infinity, action: "copy" }],
  ["index as string", { requestId: 1, type: "codeAction", sessionId: "s", blockIndex: "0", action: "copy" }],
  ["unknown code action", { requestId: 1, type: "codeAction", sessionId: "s", blockIndex: 0, action: "run" }],
  ["javascript: link", { requestId: 1, type: "openLink", url: "javascript:alert(1)" }],
  ["data: link", { requestId: 1, type: "openLink", url: "data:text/html,<script>alert(1)</script>" }],
  ["file: link", { requestId: 1, type: "openLink", url: "file:///etc/passwd" }],
  ["command: link", { requestId: 1, type: "openLink", url: "command:workbench.action.terminal.new" }],
  ["vscode: link", { requestId: 1, type: "openLink", url: "vscode://settings" }],
  ["relative link", { requestId: 1, type: "openLink", url: "/docs" }],
  ["link with credentials", { requestId: 1, type: "openLink", url: "https://user:pass@example.com/" }],
  ["whitespace-prefixed link", { requestId: 1, type: "openLink", url: " javascript:alert(1)" }],
  ["link too long", { requestId: 1, type: "openLink", url: `https://example.com/${"a".repeat(protocolLimits.url)}` }],
  ["__proto__ key (JSON)", JSON.parse('{"requestId":1,"type":"ready","__proto__":{"polluted":true}}')],
  ["nested __proto__ key (JSON)", JSON.parse('{"requestId":1,"type":"send","text":"x","meta":{"__proto__":{"polluted":true}}}')],
  ["constructor key", JSON.parse('{"requestId":1,"type":"ready","constructor":{"prototype":{"polluted":true}}}')],
  ["prototype key", { requestId: 1, type: "newChat", prototype: {} }],
  ["symbol key", { requestId: 1, type: "ready", [Symbol("x")]: 1 }],
  ["bigint value", { requestId: 1, type: "correctAssumption", sessionId: "s", index: 1n, text: "x" }],
  ["deep nesting", nest(100)],
  [
    "throwing getter",
    {
      requestId: 1,
      type: "send",
      get text(): string {
        throw new Error("boom");
      },
    },
  ],
  [
    "proxy that throws",
    new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("trap");
        },
      },
    ),
  ],
];

function nest(depth: number): unknown {
  let value: unknown = { type: "ready", requestId: 1 };
  for (let i = 0; i < depth; i++) value = { type: "ready", requestId: 1, inner: value };
  return value;
}

test("malformed webview messages are rejected with a short reason, never thrown", () => {
  for (const [why, message] of malformedWebview) {
    const result = parseWebviewMessage(message);
    assert.equal(result.ok, false, `accepted: ${why}`);
    if (!result.ok) {
      assert.ok(result.error.length > 0 && result.error.length <= 260, `${why}: error is ${result.error.length} chars`);
    }
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype was polluted");
});

function stateWith(mutate: (s: Record<string, unknown>) => void): unknown {
  const message = viaJson(state()) as Record<string, unknown>;
  mutate(message);
  return message;
}

function sessionOf(message: Record<string, unknown>): Record<string, unknown> {
  return message.session as Record<string, unknown>;
}

function firstQuestion(message: Record<string, unknown>): Record<string, unknown> {
  return (sessionOf(message).questions as Record<string, unknown>[])[0] as Record<string, unknown>;
}

const malformedHost: [string, unknown][] = [
  ["unknown type", { type: "eval", code: "alert(1)" }],
  ["state without session", stateWith((m) => delete m.session)],
  ["state without model", stateWith((m) => delete m.model)],
  ["state with chips as an array", stateWith((m) => (m.context = []))],
  ["session missing id", stateWith((m) => delete sessionOf(m).id)],
  ["session with unknown state", stateWith((m) => (sessionOf(m).state = "hacked"))],
  ["session with extra field", stateWith((m) => (sessionOf(m).html = "<script>"))],
  ["question text a number", stateWith((m) => (firstQuestion(m).text = 1))],
  ["suggestions a string", stateWith((m) => (firstQuestion(m).suggestions = "a,b"))],
  ["too many suggestions", stateWith((m) => (firstQuestion(m).suggestions = Array(protocolLimits.suggestions + 1).fill("x")))],
  ["waived as a string", stateWith((m) => (firstQuestion(m).waived = "true"))],
  ["answer too long", stateWith((m) => (sessionOf(m).answer = huge))],
  ["askProbability above 1", stateWith((m) => (sessionOf(m).askProbability = 1.5))],
  ["createdAt a date string", stateWith((m) => (sessionOf(m).createdAt = "2024-01-01"))],
  ["rounds negative", stateWith((m) => (sessionOf(m).rounds = -1))],
  ["codeBlocks wrong shape", stateWith((m) => (sessionOf(m).codeBlocks = [{ lang: "ts", code: "x" }]))],
  ["failure without message", stateWith((m) => (sessionOf(m).failure = { raw: "x" }))],
  ["selection line fractional", stateWith((m) => (sessionOf(m).context = { selection: { text: "", startLine: 1.5, endLine: 2 } }))],
  ["model status unknown", stateWith((m) => (m.model = { status: "great" }))],
  ["model progress above 1", stateWith((m) => (m.model = { status: "loading", progress: 2 }))],
  ["chip with unknown kind", stateWith((m) => (m.context = { chips: [{ id: "c", kind: "url", label: "x" }] }))],
  ["too many chips", stateWith((m) => (m.context = { chips: Array(protocolLimits.chips + 1).fill({ id: "c", kind: "file", label: "x" }) }))],
  ["history entry without title", stateWith((m) => (m.history = [{ id: "a", updatedAt: 1 }]))],
  ["__proto__ in session (JSON)", JSON.parse(JSON.stringify(state()).replace('"id":"s1"', '"id":"s1","__proto__":{"polluted":1}'))],
  ["__proto__ in a question (JSON)", JSON.parse(JSON.stringify(state()).replace('"id":"q1"', '"id":"q1","__proto__":{"isAdmin":1}'))],
  ["chunk without sessionId", { type: "chunk", text: "x" }],
  ["chunk with number text", { type: "chunk", sessionId: "s1", text: 5 }],
  ["chunk too big", { type: "chunk", sessionId: "s1", text: huge }],
  ["focusComposer with extra", { type: "focusComposer", html: "<b>" }],
  ["reply without requestId", { type: "reply", ok: true }],
  ["reply without ok", { type: "reply", requestId: 1 }],
  ["reply with ok a string", { type: "reply", requestId: 1, ok: "yes" }],
];

test("malformed host messages are rejected", () => {
  for (const [why, message] of malformedHost) {
    const result = parseHostMessage(message);
    assert.equal(result.ok, false, `accepted: ${why}`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
});

test("the error names the place and does not echo a huge value", () => {
  const result = parseHostMessage(stateWith((m) => (firstQuestion(m).text = 1)));
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.error, /session\.questions\.0\.text/);
  const unknown = parseWebviewMessage({ type: "x".repeat(100_000), requestId: 1 });
  assert.equal(unknown.ok, false);
  if (!unknown.ok) assert.ok(unknown.error.length < 200);
  const extraKey = parseWebviewMessage({ type: "ready", requestId: 1, ["k".repeat(100_000)]: 1 });
  assert.equal(extraKey.ok, false);
  if (!extraKey.ok) assert.ok(extraKey.error.length <= 260);
});

test("the validator's work is bounded before it walks: a million values, shared references, a million keys", () => {
  const limit = new RegExp(`more than ${protocolLimits.values} values`);
  // About 3 MB as JSON: refused by its length alone, before one element is visited.
  const millionObjects = { type: "send", requestId: 1, text: "x", junk: Array.from({ length: 1_000_000 }, () => ({})) };
  // One object reachable along 2^16 paths within the depth limit: counted per path, so it runs out of budget.
  let shared: unknown = { leaf: "x" };
  for (let i = 0; i < protocolLimits.depth - 1; i++) shared = { a: shared, b: shared };
  const sharedMessage = { type: "send", requestId: 1, text: "x", shared };
  // Wide and shared: each level repeats the level below 400 times.
  let wide: unknown = "x";
  for (let i = 0; i < 4; i++) wide = Array(400).fill(wide);
  const manyKeys: Record<string, unknown> = { type: "ready", requestId: 1 };
  for (let i = 0; i < 1_000_000; i++) manyKeys[`k${i}`] = 0;
  const cases: [string, unknown, (m: unknown) => { ok: boolean; error?: string }][] = [
    ["a million empty objects (webview)", millionObjects, parseWebviewMessage],
    ["a million empty objects (host)", { ...state(), junk: millionObjects.junk }, parseHostMessage],
    ["shared references, deep (webview)", sharedMessage, parseWebviewMessage],
    ["shared references, wide (host)", { type: "chunk", sessionId: "s1", text: "x", wide }, parseHostMessage],
    ["a million keys (webview)", manyKeys, parseWebviewMessage],
  ];
  for (const [why, message, parse] of cases) {
    const result = parse(message);
    assert.equal(result.ok, false, why);
    assert.match(result.error ?? "", limit, why);
  }
  // A real message at the upper end of every list stays within the budget.
  const full = state(
    snapshot({
      questions: Array.from({ length: protocolLimits.questions }, (_, i) => ({
        id: `q${i}`,
        round: 1,
        text: "Which?",
        suggestions: Array(protocolLimits.suggestions).fill("s") as string[],
      })),
      assumptions: Array(protocolLimits.assumptions).fill("a") as string[],
      codeBlocks: Array.from({ length: protocolLimits.codeBlocks }, () => ({ language: "ts", code: "x" })),
    }),
  );
  if (full.type === "state") full.history = Array.from({ length: protocolLimits.history }, (_, i) => ({ id: `h${i}`, title: "t", updatedAt: i }));
  const result = parseHostMessage(viaJson(full));
  assert.ok(result.ok, result.ok ? "" : result.error);
});

test("the page's CSP: nonce'd scripts only, no inline styles, Trusted Types for markdown and Lit", () => {
  const csp = webviewContentSecurityPolicy("abc123", "https://*.vscode-cdn.net");
  const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
  assert.equal(directives.get("default-src"), "'none'");
  assert.equal(directives.get("script-src"), "'nonce-abc123'");
  assert.equal(directives.get("style-src"), "https://*.vscode-cdn.net");
  assert.equal(directives.get("require-trusted-types-for"), "'script'");
  assert.equal(directives.get("trusted-types"), "clarifycoder-markdown lit-html");
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
});
