/**
 * A scripted generator for dataset synthesis behind the stand-in OpenAI server: it reads which step and task a
 * request is about and answers deterministically, so a run's output is known exactly (and a resumed run must equal
 * an uninterrupted one). Two items are made to fail the filters: t03 "incomplete" comes back unchanged, and t07's
 * questions come with an answer.
 */
import { clarifyKinds, synthPromptVersion, type ClarifyRecord } from "../../src/core/synthesis.js";
import { fixtureTasks, type FixtureTask } from "../fixtures/code-tasks.js";
import type { RecordedRequest, StandInReply } from "./openai-server.js";

const kindOf = (text: string): "ambiguous" | "inconsistent" | "incomplete" =>
  /AMBIGUOUS|ambiguous:/.test(text) ? "ambiguous" : /INCONSISTENT|inconsistent:/.test(text) ? "inconsistent" : "incomplete";

export function rewrittenDescription(task: FixtureTask, kind: "ambiguous" | "inconsistent" | "incomplete"): string {
  if (kind === "ambiguous") return `${task.description.replace(/\.$/, "")}, in a suitable form.`;
  if (kind === "inconsistent") return `${task.description} It always returns None.`;
  if (task.id === "t03") return task.description;
  return `${task.description.split(" ").slice(0, 6).join(" ")}.`;
}

export function scriptedQuestions(task: FixtureTask): string[] {
  if (task.id === "t07") return ["Should the order be kept? Yes. Which item comes first?"];
  return [`What exactly should ${task.name} return?`, `How should ${task.name} treat unusual input?`];
}

/** The user message of a chat request. */
export function userMessage(request: RecordedRequest): string {
  const messages = (request.body.messages ?? []) as { role: string; content: string }[];
  return messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
}

export function synthReply(request: RecordedRequest): StandInReply {
  const text = userMessage(request);
  const task = fixtureTasks.find((t) => text.includes(t.description) || text.includes(t.description.split(" ").slice(0, 6).join(" ")));
  if (!task) return { status: 400, body: { error: { message: "the scripted generator does not know this task" } } };
  const kind = kindOf(text);
  if (text.includes("<task>")) {
    const original = /<task>\n([\s\S]*?)\n<\/task>/.exec(text)?.[1] ?? "";
    return { text: JSON.stringify({ plan: `Make it ${kind}.`, description: original.replace(task.description, rewrittenDescription(task, kind)) }) };
  }
  return { text: JSON.stringify({ questions: scriptedQuestions(task) }) };
}

/** The rows the scripted generator's run writes for the APPS-folder fixture (question.txt ends in a newline). */
export function expectedRecords(generator: string): Omit<ClarifyRecord, "createdAt">[] {
  return fixtureTasks.flatMap((task) =>
    clarifyKinds
      .filter((kind) => task.id !== "t07" && !(task.id === "t03" && kind === "incomplete"))
      .map((kind) => ({
        id: `${task.id}:${kind}`,
        source: task.id,
        kind,
        original: `${task.description}\n`,
        modified: rewrittenDescription(task, kind),
        questions: scriptedQuestions(task),
        generator,
        promptVersion: synthPromptVersion,
      })),
  );
}
