/** Registers `clarifycoder eval` (and `eval report`) on the command line. */
import { Command, Option } from "commander";
import { askPolicies, decideMethods, modelStyles } from "../../core/types.js";
import { allCategories } from "../../core/eval/benchmark.js";
import { answerSources } from "../../core/eval/reference-answers.js";
import { modelRanges, settingRanges } from "../../core/settings.js";
import { evalDefaults, runEval, runEvalReport, type EvalOptions } from "../eval/run.js";
import { gpuOption, modelOptionHelp, numberOption, toolkitRanges } from "../shared/options.js";

export function registerEval(program: Command): void {
  const evaluate = program
    .command("eval")
    .description(
      "Evaluate a model, or the clarify engine around it, on HumanEvalComm: questions, answers from a judge model, code tested in a Python sandbox, and a report with charts.",
    )
    .option("-b, --benchmark <file>", "HumanEvalComm.jsonl (required)")
    .option("-m, --model <model>", `(required) the model under test: ${modelOptionHelp}`)
    .option("-j, --judge <file|uri|url>", "(required) the judge model that grades and answers the questions (the same forms as --model)")
    .option("-o, --out <folder>", "(required) where results.jsonl, summary.json, report.md and report.html go; the same folder resumes a run")
    .addOption(
      new Option("--mode <mode>", "paper: HumanEvalComm's three rounds on the raw model; engine: our clarify engine with its settings")
        .choices(["paper", "engine"])
        .default("paper"),
    )
    .option("--categories <list>", `comma-separated, from ${allCategories.join(", ")} (default: all)`)
    .addOption(numberOption("--limit <n>", "at most this many problems per category (a seeded sample)", toolkitRanges.limit))
    .addOption(numberOption("--seed <n>", "the sample's seed", toolkitRanges.seed).default(evalDefaults.seed))
    .addOption(numberOption("--concurrency <n>", "items in flight at once (default 8 for an endpoint, 1 for a local model)", toolkitRanges.concurrency))
    .addOption(new Option("--style <style>", "engine: guided (any instruct model) or native (a clarify-aware fine-tune)").choices(modelStyles))
    .addOption(new Option("--ask <policy>", "engine: when to ask").choices(askPolicies))
    .addOption(numberOption("--threshold <p>", "engine, auto: ask when the model's probability of asking is at least this", settingRanges.askThreshold))
    .addOption(numberOption("--max-questions <n>", "engine: questions per round", settingRanges.maxQuestions))
    .addOption(numberOption("--max-rounds <n>", "engine: rounds of questions", settingRanges.maxRounds))
    .addOption(numberOption("--max-tokens <n>", "tokens per model reply (code)", settingRanges.maxCodeTokens).default(evalDefaults.maxTokens))
    .addOption(
      numberOption("--temperature <t>", "sampling temperature of the model and the judge", settingRanges.temperature).default(evalDefaults.temperature),
    )
    .addOption(
      new Option("--judge-format <format>", "json: graded under a JSON schema, with key-question coverage; text: HumanEvalComm's QUALITY=/ANSWERS= reply")
        .choices(["json", "text"])
        .default("json"),
    )
    .addOption(numberOption("--judge-max-tokens <n>", "tokens per judge reply", toolkitRanges.judgeMaxTokens).default(evalDefaults.judgeMaxTokens))
    .addOption(numberOption("--case-timeout <s>", "seconds per test case", toolkitRanges.caseTimeoutSeconds).default(evalDefaults.caseTimeout))
    .addOption(numberOption("--memory <mb>", "memory per test case, in MB", toolkitRanges.memoryMb).default(evalDefaults.memory))
    .option("--python <path>", "the Python 3 that runs the tests (default python3)")
    .option("--no-network-isolation", "do not try to take the network away from the tested code")
    .addOption(
      new Option(
        "--decide <method>",
        "engine mode, --ask auto: readings (candidates run in the sandbox; ask where they miss the examples or, without examples, disagree) or probe (the model's probability of asking against --threshold)",
      ).choices(decideMethods),
    )
    .addOption(
      new Option(
        "--answers <source>",
        "judge: the judge answers every question (HumanEvalComm's protocol); reference: a question about a concrete call gets what the benchmark's reference solution returns for it (run in the sandbox), as a user who knows their function would answer",
      )
        .choices(answerSources)
        .default("judge"),
    )
    .option("--unsafe-no-sandbox", "where bubblewrap cannot confine the tested code, run it unconfined instead of refusing to")
    .option("--retest", "run the tests again on the code already stored in --out (no model calls), then go on")
    .addOption(
      numberOption("--max-clear-ask <rate>", "calibration: the share of clear prompts the suggested threshold may ask about", toolkitRanges.share).default(
        evalDefaults.maxClearAsk,
      ),
    )
    .addOption(gpuOption("where a local model runs"))
    .addOption(numberOption("--threads <n>", "local models: CPU threads", modelRanges.threads))
    .addOption(numberOption("--context-size <n>", "local models: context tokens per conversation", modelRanges.contextSize))
    // Checked when the command runs rather than by commander, which would also demand them of `eval report`.
    .action(async (options: Omit<EvalOptions, "network"> & { networkIsolation?: boolean }) => {
      process.exitCode = await runEval({ ...options, network: options.networkIsolation !== false });
    });
  evaluate
    .command("report")
    .description("One report with several eval runs side by side.")
    .argument("<runs...>", "the --out folders of eval runs")
    // Not --out: that one belongs to `eval` itself, and commander would give it to the parent command.
    .option("--html <file>", "the report to write (a .md file goes beside it)", "eval-report.html")
    .action(async (runs: string[], options: { html: string }) => {
      process.exitCode = await runEvalReport(runs, { out: options.html });
    });
}
