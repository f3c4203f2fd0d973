/**
 * Synthesis of the clarify-aware data set, the ClarifyCoder way: a generator model rewrites each code task to be
 * ambiguous, inconsistent or incomplete (step 1), then, seeing both versions, writes the clarifying questions that
 * would recover the clear one (step 2). The prompts are ours and versioned; every row records the version.
 *
 * Pure: the generator is any ClarifyModel (our worker or an OpenAI-compatible endpoint); rows go to a callback.
 */
import { z } from "zod";
import type { ClarifyModel, JsonSchema, TurnResult } from "./model.js";
import { grammarOf, heldTo } from "./grammar.js";
import { seedOf } from "./random.js";
import {
  checkQuestions,
  checkRewrite,
  defaultFilterOptions,
  duplicateKey,
  rejectionReasons,
  tidyQuestions,
  type FilterOptions,
  type RejectionReason,
} from "./synthesis-filters.js";
import type { CodeTask } from "./tasks.js";

export const clarifyKinds = ["ambiguous", "inconsistent", "incomplete"] as const;
export type ClarifyKind = (typeof clarifyKinds)[number];

/** Bump it whenever a prompt or schema below changes: rows made with other prompts must be told apart. */
export const synthPromptVersion = "clarifycoder-synth-2";

export const synthSystemPrompt =
  "You help build training data for a coding assistant that asks clarifying questions before it writes code. " +
  "Follow the instructions exactly and reply with the JSON asked for, nothing else.";

const kindInstructions: Record<ClarifyKind, string> = {
  ambiguous:
    "Make the task AMBIGUOUS: change or remove wording so that the task allows two or more valid interpretations that " +
    "lead to different code, or leaves open a detail the solution depends on.",
  inconsistent:
    "Make the task INCONSISTENT: change one statement so that it conflicts with another part of the task (another " +
    "statement, an example or a constraint), so that no program can satisfy both.",
  incomplete: "Make the task INCOMPLETE: remove a key concept, condition or constraint that is needed to write the solution.",
};

const kindProblems: Record<ClarifyKind, string> = {
  ambiguous: "ambiguous: it can be read in more than one way",
  inconsistent: "inconsistent: some of its statements conflict",
  incomplete: "incomplete: something needed to solve it is missing",
};

/** Step 1: rewrite a task one way. */
export function buildRewriteMessage(kind: ClarifyKind, description: string): string {
  return [
    `Here is a programming task:\n\n<task>\n${description.trim()}\n</task>`,
    kindInstructions[kind],
    "Change only what that needs and keep the rest word for word, in the same form: a plain statement stays a plain " +
      "statement; a function signature with a docstring stays one, with the same name and parameters. Do not add notes, " +
      "headings or any hint that the task was changed.",
    'Think step by step: first say in "plan" what you will change and why it has that effect (one or two sentences), ' +
      'then write the whole changed task in "description".',
  ].join("\n\n");
}

/** Step 2: the questions that would recover the clear task. The prompt shows both; the questions must not. */
export function buildQuestionsMessage(kind: ClarifyKind, original: string, modified: string): string {
  return [
    `A user asked a coding assistant for the task below, as written. It is ${kindProblems[kind]}.`,
    `<as-written>\n${modified.trim()}\n</as-written>`,
    `What the user actually means is this:\n\n<meant>\n${original.trim()}\n</meant>`,
    "Write the clarifying questions (1 to 5) that the assistant should ask the user about the task as written, so that " +
      "the answers give back exactly what the user means. Ask only about what is unclear, contradictory or missing. " +
      'Each question is addressed to the user and ends with "?". Give no answers, no code and no explanations.',
    "The assistant has only the task as written: never mention or hint at another version, an original, or what the " +
      "user means; ask as someone who has never seen it.",
  ].join("\n\n");
}

/** The rewrite: the plan first (a cap for the grammar), then the rewritten description. */
const rewriteReply = z.object({ plan: heldTo(z.string(), { maxLength: 600 }), description: z.string().min(1) });
export const rewriteSchema: JsonSchema = grammarOf(rewriteReply);

/** The questions about a rewritten task. */
const questionsReply = (maxQuestions: number) =>
  z.object({ questions: heldTo(z.array(heldTo(z.string(), { minLength: 1, maxLength: 400 })).min(1), { maxItems: maxQuestions }) });
export const questionsSchema = (maxQuestions: number): JsonSchema => grammarOf(questionsReply(maxQuestions));

/** One output row: a rewritten task and its questions. */
export const clarifyRecordSchema = z.object({
  id: z.string().min(1),
  /** The id of the task it was made from. */
  source: z.string().min(1),
  kind: z.enum(clarifyKinds),
  original: z.string().min(1),
  modified: z.string().min(1),
  questions: z.array(z.string().min(1)).min(1),
  /** The generator model: a file's model name, or "model at URL". */
  generator: z.string(),
  promptVersion: z.string(),
  createdAt: z.string(),
});
export type ClarifyRecord = z.infer<typeof clarifyRecordSchema>;

/** One rejected item, kept (in its own file) with the reason and whatever the generator had written by then. */
export const synthRejectionSchema = z.object({
  id: z.string().min(1),
  source: z.string().min(1),
  kind: z.enum(clarifyKinds),
  step: z.enum(["rewrite", "questions"]),
  reason: z.enum(Object.keys(rejectionReasons) as [RejectionReason, ...RejectionReason[]]),
  message: z.string(),
  modified: z.string().optional(),
  questions: z.array(z.string()).optional(),
  reply: z.string().optional(),
  generator: z.string(),
  promptVersion: z.string(),
  createdAt: z.string(),
});
type SynthRejection = z.infer<typeof synthRejectionSchema>;

export interface SynthJob {
  /** `<task id>:<kind>`: the key a resumed run skips by. */
  id: string;
  task: CodeTask;
  kind: ClarifyKind;
}

const jobId = (taskId: string, kind: ClarifyKind): string => `${taskId}:${kind}`;

/** Every task crossed with every kind, task by task. */
export function synthJobs(tasks: readonly CodeTask[], kinds: readonly ClarifyKind[]): SynthJob[] {
  return tasks.flatMap((task) => kinds.map((kind) => ({ id: jobId(task.id, kind), task, kind })));
}

export interface SynthSettings {
  /** How the generator is named in rows. */
  generator: string;
  temperature: number;
  /** The run's seed: each turn's sampling seed derives from it and the item, so reruns and resumes repeat. */
  seed: number;
  maxTokens: number;
  filters: FilterOptions;
  now?: () => Date;
}

export const defaultSynthSettings: Omit<SynthSettings, "generator"> = {
  temperature: 0.1,
  seed: 1,
  maxTokens: 1536,
  filters: defaultFilterOptions,
};

export type SynthOutcome =
  | { status: "accepted"; record: ClarifyRecord }
  | { status: "rejected"; rejection: SynthRejection }
  /** The generator failed (unreachable, crashed): not an answer about this item; a rerun tries it again. */
  | { status: "failed"; error: string }
  | { status: "aborted" };

class Stop {
  constructor(readonly outcome: SynthOutcome) {}
}

/** Generates one item: the rewrite, its checks, the questions, their checks. Never throws. */
export async function synthesiseOne(model: ClarifyModel, job: SynthJob, settings: SynthSettings, signal?: AbortSignal): Promise<SynthOutcome> {
  const createdAt = (settings.now ?? (() => new Date()))().toISOString();
  const base = { id: job.id, source: job.task.id, kind: job.kind, generator: settings.generator, promptVersion: synthPromptVersion, createdAt };
  const rejected = (step: SynthRejection["step"], reason: RejectionReason, message: string, extra: Partial<SynthRejection> = {}): Stop =>
    new Stop({ status: "rejected", rejection: { ...base, step, reason, message, ...extra } });

  const turn = async <T>(
    step: SynthRejection["step"],
    message: string,
    grammar: JsonSchema,
    shape: z.ZodType<T>,
    extra: Partial<SynthRejection>,
  ): Promise<T> => {
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: synthSystemPrompt });
    let result: TurnResult;
    try {
      result = await conversation.chat(message, {
        maxTokens: settings.maxTokens,
        temperature: settings.temperature,
        seed: seedOf(`${settings.seed}/${job.id}/${step}`),
        grammar,
        ...(signal ? { signal } : {}),
      });
    } finally {
      await conversation.close().catch(() => undefined);
    }
    if (result.stopReason === "abort" || signal?.aborted) throw new Stop({ status: "aborted" });
    if (result.stopReason === "maxTokens")
      throw rejected(step, "cut-off", `${rejectionReasons["cut-off"]} (${settings.maxTokens} tokens)`, { ...extra, reply: result.text });
    let json: unknown;
    try {
      json = JSON.parse(result.text);
    } catch {
      throw rejected(step, "unreadable", rejectionReasons.unreadable, { ...extra, reply: result.text });
    }
    const parsed = shape.safeParse(json);
    if (!parsed.success) throw rejected(step, "unreadable", rejectionReasons.unreadable, { ...extra, reply: result.text });
    return parsed.data;
  };

  try {
    const original = job.task.description;
    const { description } = await turn("rewrite", buildRewriteMessage(job.kind, original), rewriteSchema, rewriteReply, {});
    const modified = description.trim();
    const rewriteVerdict = checkRewrite(original, modified, settings.filters);
    if (!rewriteVerdict.ok) throw rejected("rewrite", rewriteVerdict.reason, rewriteVerdict.message, { modified });

    const asked = await turn(
      "questions",
      buildQuestionsMessage(job.kind, original, modified),
      questionsSchema(settings.filters.maxQuestions),
      questionsReply(settings.filters.maxQuestions),
      {
        modified,
      },
    );
    const questions = tidyQuestions(asked.questions);
    const questionsVerdict = checkQuestions(questions, original, settings.filters);
    if (!questionsVerdict.ok) throw rejected("questions", questionsVerdict.reason, questionsVerdict.message, { modified, questions });
    const { generator, promptVersion } = base;
    return {
      status: "accepted",
      record: { id: job.id, source: job.task.id, kind: job.kind, original, modified, questions, generator, promptVersion, createdAt },
    };
  } catch (error) {
    if (error instanceof Stop) return error.outcome;
    if (signal?.aborted) return { status: "aborted" };
    return { status: "failed", error: error instanceof Error ? error.message : String(error) };
  }
}

interface SynthRun {
  model: ClarifyModel;
  jobs: readonly SynthJob[];
  settings: SynthSettings;
  /** Items generated at once (1 for a local model: it generates one at a time). */
  concurrency: number;
  /** Rows already in the data (a resumed run): a new rewrite equal to one of theirs is a duplicate. */
  accepted?: Iterable<{ id: string; modified: string }>;
  /** Called with each finished item, in the order they finish; the run waits for it (a row being written). */
  onOutcome: (job: SynthJob, outcome: Exclude<SynthOutcome, { status: "aborted" }>) => Promise<void> | void;
  /** Stop after this many generator failures in a row (default 5): a dead endpoint should not fail every item. */
  maxFailuresInARow?: number;
  signal?: AbortSignal;
}

export interface SynthRunResult {
  accepted: number;
  rejected: number;
  failed: number;
  /** Why the run stopped before the end, if it did. */
  stopped?: { reason: "interrupted" } | { reason: "failing"; error: string };
}

/** Runs the jobs with bounded concurrency, turning repeated rewrites into duplicates, until done or stopped. */
export async function runSynthesis(run: SynthRun): Promise<SynthRunResult> {
  // Each rewrite's key, with the id of the item that has it.
  const seen = new Map<string, string>();
  for (const { id, modified } of run.accepted ?? []) seen.set(duplicateKey(modified), id);
  const internal = new AbortController();
  const signal = run.signal ? AbortSignal.any([run.signal, internal.signal]) : internal.signal;
  const result: SynthRunResult = { accepted: 0, rejected: 0, failed: 0 };
  const limit = run.maxFailuresInARow ?? 5;
  let inARow = 0;
  let next = 0;

  const worker = async (): Promise<void> => {
    while (!signal.aborted && next < run.jobs.length) {
      const job = run.jobs[next++] as SynthJob;
      let outcome = await synthesiseOne(run.model, job, run.settings, signal);
      if (outcome.status === "aborted") return;
      if (outcome.status === "accepted") {
        const key = duplicateKey(outcome.record.modified);
        const first = seen.get(key);
        if (first !== undefined) {
          const { original: _o, ...record } = outcome.record;
          outcome = { status: "rejected", rejection: { ...record, step: "rewrite", reason: "duplicate", message: `${rejectionReasons.duplicate}: ${first}` } };
        } else seen.set(key, job.id);
      }
      if (outcome.status === "failed") {
        inARow += 1;
        result.failed += 1;
      } else {
        inARow = 0;
        result[outcome.status] += 1;
      }
      await run.onOutcome(job, outcome);
      if (outcome.status === "failed" && inARow >= limit && !result.stopped) {
        result.stopped = { reason: "failing", error: outcome.error };
        internal.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(run.concurrency, run.jobs.length)) }, worker));
  const finished = result.accepted + result.rejected + result.failed;
  if (!result.stopped && run.signal?.aborted && finished < run.jobs.length) result.stopped = { reason: "interrupted" };
  return result;
}
