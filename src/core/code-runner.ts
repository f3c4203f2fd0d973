/**
 * Running a candidate's code on concrete calls, so the engine can see whether readings of a request disagree
 * (ClarifyGPT's signal) and check code against the request's own examples. The engine knows only this interface;
 * the command line and the evaluation hand it the confined Python sandbox.
 */

/** One call's outcome: the value's Python repr, or the error it raised (its type and message, one line). */
export type CallOutcome = { ok: true; value: string } | { ok: false; error: string };

export interface CodeRunner {
  /** The languages whose code it runs (fence names, such as "python"). */
  readonly languages: readonly string[];
  /**
   * Runs `code` (after `preamble`, the request's imports and helpers) once per call, each call a Python expression
   * such as `f([1, 2], 3)`, and gives each call's outcome in order. Never throws for anything the code does.
   */
  callAll(input: { code: string; preamble?: string; calls: readonly string[]; timeoutMs?: number }): Promise<CallOutcome[]>;
}
