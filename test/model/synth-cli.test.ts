/**
 * `clarifycoder synth` as a user runs it: the built CLI in its own process, against a stand-in OpenAI-compatible
 * server on 127.0.0.1 (scripted, exact outputs; 429 and 500 answers; concurrency), and against the tiny GGUF through
 * the real model worker. Killed and interrupted runs resume to the same output as an uninterrupted one.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { clarifyRecordSchema, synthPromptVersion, synthRejectionSchema } from "../../src/core/synthesis.js";
import { fixtureTasks, writeAppsFolder, writeAppsJsonl, writeHumanEvalJsonl } from "../fixtures/code-tasks.js";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { cli, startCli } from "../helpers/cli.js";
import { startOpenAIServer, type StandInHandler, type StandInServer } from "../helpers/openai-server.js";
import { expectedRecords, synthReply } from "../helpers/synth-generator.js";
import { tempDir } from "../helpers/worker.js";

let dir: string;
let apps: string;
const servers: StandInServer[] = [];
before(async () => {
  dir = await tempDir("clarifycoder-synth-");
  apps = await writeAppsFolder(path.join(dir, "apps"));
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(handler: StandInHandler): Promise<StandInServer> {
  const server = await startOpenAIServer(handler);
  servers.push(server);
  return server;
}

const delayed =
  (ms: number): StandInHandler =>
  (request) => ({ ...(synthReply(request) as { text: string }), delayMs: ms });

async function rows(file: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Rows without their timestamps, sorted by id: what two runs of the same data must agree on. */
async function comparable(file: string): Promise<Record<string, unknown>[]> {
  return (await rows(file)).map(({ createdAt: _c, ...rest }) => rest).sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

const lineCount = async (file: string): Promise<number> => (existsSync(file) ? (await readFile(file, "utf8")).split("\n").length - 1 : 0);

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("synth against an OpenAI-compatible endpoint", () => {
  it("writes the scripted rows exactly, with concurrency, retrying 429 and 500, the API key from the environment", async () => {
    // Requests 1 to 3 are held until all three have arrived (or 5 s passed): the run must have three in flight.
    const gate: (() => void)[] = [];
    const server = await serve(async (request, index) => {
      if (index === 0) return { status: 429, body: { error: { message: "slow down" } }, headers: { "retry-after": "0" } };
      if (index === 4) return { status: 500, body: { error: { message: "overloaded" } } };
      if (index <= 3) {
        await new Promise<void>((resolve) => {
          gate.push(resolve);
          if (gate.length === 3) gate.forEach((release) => release());
          setTimeout(resolve, 5000);
        });
      }
      return delayed(20)(request, index);
    });
    const out = path.join(dir, "endpoint.jsonl");
    const run = await cli(["synth", "--tasks", apps, "--model", server.url, "--out", out, "--concurrency", "3"], "", { CLARIFYCODER_API_KEY: "sk-from-env" });
    assert.equal(run.code, 0, run.stderr);
    const generator = `stand-in at ${server.url}`;
    assert.deepEqual(
      await comparable(out),
      expectedRecords(generator).sort((a, b) => a.id.localeCompare(b.id)),
    );
    for (const row of await rows(out)) assert.ok(clarifyRecordSchema.safeParse(row).success);
    const rejected = await comparable(out.replace(".jsonl", ".rejected.jsonl"));
    assert.deepEqual(
      rejected.map((r) => [r.id, r.step, r.reason]),
      [
        ["t03:incomplete", "rewrite", "unchanged"],
        ["t07:ambiguous", "questions", "contains-answer"],
        ["t07:incomplete", "questions", "contains-answer"],
        ["t07:inconsistent", "questions", "contains-answer"],
      ],
    );
    assert.equal(server.maxInFlight, 3);
    assert.ok(server.requests.every((r) => r.headers.authorization === "Bearer sk-from-env"));
    const first = server.requests[1]?.body as { seed?: unknown; temperature?: unknown; response_format?: { type?: string } };
    assert.equal(typeof first.seed, "number");
    assert.equal(first.temperature, 0.1);
    assert.equal(first.response_format?.type, "json_schema");
    assert.match(run.stderr, /retry 1 in 0\.0 s: .*rate-limiting requests \(HTTP 429\)/);
    assert.match(run.stderr, /retry 1 in \d\.\d s: .*failed on the server side \(HTTP 500\)/);
    assert.match(run.stderr, /rejected t07:ambiguous \(questions\): a question comes with its answer/);
    assert.match(
      run.stdout,
      new RegExp(`^Generator: ${generator.replace(/[.]/g, "\\.")} \\(prompts ${synthPromptVersion}, seed 1, temperature 0\\.1\\)\\.$`, "m"),
    );
    assert.match(run.stdout, /26 written to .*, 4 rejected \(see .*\), 0 failed; 30 of 30 items \(10 tasks x 3 kinds\) done\./);

    const again = await cli(["synth", "--tasks", apps, "--model", server.url, "--out", out]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^Nothing to do: all 30 items \(10 tasks x 3 kinds\) are done/);
  });

  it("reads each input layout: APPS folders, APPS-style JSONL, HumanEval-style JSONL", async () => {
    const server = await serve(synthReply);
    const inputs = {
      apps,
      "apps-jsonl": await writeAppsJsonl(path.join(dir, "apps.jsonl")),
      humaneval: await writeHumanEvalJsonl(path.join(dir, "humaneval.jsonl")),
    };
    for (const [layout, input] of Object.entries(inputs)) {
      const out = path.join(dir, `layout-${layout}.jsonl`);
      const run = await cli([
        "synth",
        "-t",
        input,
        "-m",
        `${server.url}#stand-in`,
        "-o",
        out,
        "--kinds",
        "ambiguous,incomplete",
        "--limit",
        "4",
        "--concurrency",
        "4",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const written = await rows(out);
      const prefix = layout === "humaneval" ? "HumanEval/" : "";
      // t03 "incomplete" comes back unchanged and is rejected.
      assert.deepEqual(
        written.map((r) => r.id).sort(),
        ["t00:ambiguous", "t00:incomplete", "t01:ambiguous", "t01:incomplete", "t02:ambiguous", "t02:incomplete", "t03:ambiguous"].map((id) => prefix + id),
        layout,
      );
      const t00 = written.find((r) => r.id === `${prefix}t00:ambiguous`);
      const task = fixtureTasks[0];
      assert.ok(task && t00);
      assert.ok(String(t00.original).includes(task.description) && String(t00.modified).includes("in a suitable form."), layout);
      if (layout === "humaneval") assert.ok(String(t00.modified).startsWith("def total(xs):"), "a signature stays a signature");
    }
  });

  it("reports malformed inputs per item and goes on with the rest", async () => {
    const broken = path.join(dir, "broken");
    await writeAppsFolder(broken, fixtureTasks.slice(0, 3));
    await mkdir(path.join(broken, "x1-no-question"), { recursive: true });
    await writeFile(path.join(broken, "x1-no-question", "solutions.json"), "[]");
    await mkdir(path.join(broken, "x2-empty"), { recursive: true });
    await writeFile(path.join(broken, "x2-empty", "question.txt"), "  \n");
    await writeFile(path.join(broken, "t01", "solutions.json"), "[not json");
    const server = await serve(synthReply);
    const out = path.join(dir, "broken.jsonl");
    const run = await cli(["synth", "-t", broken, "-m", server.url, "-o", out, "--kinds", "ambiguous"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^skipped x1-no-question: question\.txt is missing\.$/m);
    assert.match(run.stderr, /^skipped x2-empty: question\.txt is empty\.$/m);
    assert.match(run.stderr, /^warning t01: solutions\.json is not valid JSON \(.+\); its solutions are not used\.$/m);
    assert.deepEqual((await rows(out)).map((r) => r.id).sort(), ["t00:ambiguous", "t01:ambiguous", "t02:ambiguous"]);

    const jsonl = path.join(dir, "broken.jsonl.in");
    const good = (await readFile(await writeHumanEvalJsonl(path.join(dir, "two.jsonl"), fixtureTasks.slice(0, 2)), "utf8")).trim().split("\n");
    await writeFile(jsonl, [good[0], "{oops", '{"task_id": "E", "prompt": " "}', '{"title": "?"}', good[1], ""].join("\n"));
    const lines = await cli(["synth", "-t", jsonl, "-m", server.url, "-o", path.join(dir, "broken2.jsonl"), "--kinds", "ambiguous"]);
    assert.equal(lines.code, 0, lines.stderr);
    assert.match(lines.stderr, /^skipped broken\.jsonl\.in:2: not valid JSON \(.+\)\.$/m);
    assert.match(lines.stderr, /^skipped broken\.jsonl\.in:3 \(E\): the prompt is empty\.$/m);
    assert.match(lines.stderr, /^skipped broken\.jsonl\.in:4: neither an APPS-style row/m);
    assert.match(lines.stdout, /2 written/);

    const missing = await cli(["synth", "-t", path.join(dir, "nope"), "-m", server.url, "-o", out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope does not exist\./);
    const usage = await cli(["synth", "-t", apps, "-m", server.url, "-o", out, "--kinds", "vague"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--kinds takes ambiguous, inconsistent, incomplete \(got "vague"\)/);
    const threads = await cli(["synth", "-t", apps, "-m", server.url, "-o", out, "--threads", "many"]);
    assert.equal(threads.code, 2);
    assert.match(threads.stderr, /'--threads <n>' argument 'many' is invalid\. It must be an integer from 0 to 1024\./);
  });

  it("a run killed mid-way (SIGKILL) and run again gives the same output as an uninterrupted run", async () => {
    const server = await serve(delayed(40));
    const whole = path.join(dir, "whole.jsonl");
    const args = (out: string): string[] => ["synth", "-t", apps, "-m", server.url, "-o", out, "--concurrency", "2"];
    assert.equal((await cli(args(whole))).code, 0);

    const killed = path.join(dir, "killed.jsonl");
    const first = startCli(args(killed));
    await waitFor(async () => (await lineCount(killed)) >= 6, "six rows");
    first.child.kill("SIGKILL");
    const end = await first.done;
    assert.equal(end.signal, "SIGKILL");
    const partial = await lineCount(killed);
    assert.ok(partial < 26, `killed after ${partial} rows`);

    const second = await cli(args(killed));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^Resuming: \d+ of 30 items \(10 tasks x 3 kinds\) already done\.$/m);
    assert.deepEqual(await comparable(killed), await comparable(whole));
    assert.deepEqual(await comparable(killed.replace(".jsonl", ".rejected.jsonl")), await comparable(whole.replace(".jsonl", ".rejected.jsonl")));
  });

  it("Ctrl-C (SIGINT) stops cleanly with whole lines only, says how to continue, and the rerun completes", async () => {
    const server = await serve(delayed(40));
    const out = path.join(dir, "interrupted.jsonl");
    const args = ["synth", "-t", apps, "-m", server.url, "-o", out, "--concurrency", "3"];
    const run = startCli(args);
    await waitFor(async () => (await lineCount(out)) >= 4, "four rows");
    run.child.kill("SIGINT");
    const end = await run.done;
    assert.equal(end.code, 130, end.stderr);
    assert.match(end.stderr, /Stopping: rows already written stay; rerun the same command to continue\./);
    assert.match(end.stdout, /Interrupted: rerun the same command to continue\./);
    const text = await readFile(out, "utf8");
    assert.ok(text.endsWith("\n"));
    for (const line of text.trim().split("\n")) assert.ok(clarifyRecordSchema.safeParse(JSON.parse(line)).success);
    assert.ok(text.trim().split("\n").length < 26);
    const rerun = await cli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(
      await comparable(out),
      expectedRecords(`stand-in at ${server.url}`).sort((a, b) => a.id.localeCompare(b.id)),
    );
  });

  it("says when the output already holds rows made with other prompts", async () => {
    const server = await serve(synthReply);
    const out = path.join(dir, "older.jsonl");
    const [old] = expectedRecords("g");
    await writeFile(out, `${JSON.stringify({ ...old, id: "elsewhere:ambiguous", promptVersion: "clarifycoder-synth-0", createdAt: "x" })}\n`);
    const run = await cli(["synth", "-t", apps, "-m", server.url, "-o", out, "--limit", "1", "--kinds", "incomplete"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`older\\.jsonl has rows made with prompts clarifycoder-synth-0; new rows use ${synthPromptVersion} \\(each row records its version\\)\\.`),
    );
    assert.equal(await lineCount(out), 2);
  });

  it("stops when the endpoint refuses every request, saying why", async () => {
    const server = await serve(() => ({ status: 401, body: { error: { message: "invalid api key" } } }));
    const out = path.join(dir, "refused.jsonl");
    const run = await cli(["synth", "-t", apps, "-m", server.url, "-o", out, "--concurrency", "1"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Stopped: the generator failed on several items in a row\. Last error: .*HTTP 401.*API key/);
    assert.equal(server.requests.length, 5);
    assert.equal(await lineCount(out), 0);
  });
});

describe("synth with a local GGUF through the model worker", () => {
  it("writes rows and rejections of the right shape (the tiny model writes nonsense, under the grammar)", async () => {
    const tiny = path.join(dir, "tiny.gguf");
    await writeTinyModel(tiny);
    const tasks = await writeHumanEvalJsonl(path.join(dir, "tiny-tasks.jsonl"), fixtureTasks.slice(0, 2));
    const out = path.join(dir, "tiny.jsonl");
    await rm(out, { force: true });
    const run = await cli(["synth", "-t", tasks, "-m", tiny, "-o", out, "--gpu", "cpu", "--threads", "1", "--max-tokens", "96", "--concurrency", "3"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /A local model generates one item at a time/);
    assert.match(run.stdout, /^Loading .*tiny\.gguf\.\.\.$/m);
    const written = await rows(out);
    const rejected = await rows(out.replace(".jsonl", ".rejected.jsonl"));
    assert.equal(written.length + rejected.length, 6);
    for (const row of written) assert.ok(clarifyRecordSchema.safeParse(row).success, JSON.stringify(row));
    for (const row of rejected) {
      assert.ok(synthRejectionSchema.safeParse(row).success, JSON.stringify(row));
      // Under the grammar the reply is always complete JSON of the asked shape: only the filters reject.
      assert.ok(!["unreadable", "cut-off"].includes(String(row.reason)), JSON.stringify(row));
    }
    assert.ok([...written, ...rejected].every((r) => r.generator === "ClarifyCoder tiny ChatML test model"));
  });
});
