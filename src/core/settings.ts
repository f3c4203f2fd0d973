/** Settings from any surface (VS Code configuration, CLI flags), checked against one set of ranges into ClarifySettings. */
import { z } from "zod";
import { askPolicies, defaultSettings, modelStyles, type ClarifySettings } from "./types.js";

/** An allowed numeric range: the one definition the settings schema, the CLI's options and package.json agree on. */
export interface NumberRange {
  min: number;
  max: number;
  integer: boolean;
}

const int = (min: number, max: number): NumberRange => ({ min, max, integer: true });

/** The numeric settings of a conversation. */
export const settingRanges = {
  maxQuestions: int(1, 10),
  maxRounds: int(1, 5),
  askThreshold: { min: 0, max: 1, integer: false },
  maxAssessmentTokens: int(32, 8192),
  maxCodeTokens: int(16, 32768),
  temperature: { min: 0, max: 2, integer: false },
} as const satisfies Partial<Record<keyof ClarifySettings, NumberRange>>;

/** How the model is loaded; 0 means "choose for me" (the physical cores; as much context as fits). */
export const modelRanges = {
  threads: int(0, 1024),
  contextSize: int(0, 1_048_576),
} as const;

/** The range in words: "an integer from 1 to 10", "a number from 0 to 1". */
export function describeRange(range: NumberRange): string {
  return `${range.integer ? "an integer" : "a number"} from ${range.min} to ${range.max}`;
}

/** Reads a number from text (a command-line value) within a range; undefined when it is not one. */
export function numberInRange(text: string, range: NumberRange): number | undefined {
  if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(text)) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < range.min || value > range.max) return undefined;
  if (range.integer && !Number.isInteger(value)) return undefined;
  return value;
}

const numberIn = (range: NumberRange) => {
  const n = range.integer ? z.number().int() : z.number();
  return n.min(range.min).max(range.max);
};

const schema = z.object({
  askPolicy: z.enum(askPolicies),
  maxQuestions: numberIn(settingRanges.maxQuestions),
  maxRounds: numberIn(settingRanges.maxRounds),
  askThreshold: numberIn(settingRanges.askThreshold),
  style: z.enum(modelStyles),
  maxAssessmentTokens: numberIn(settingRanges.maxAssessmentTokens),
  maxCodeTokens: numberIn(settingRanges.maxCodeTokens),
  temperature: numberIn(settingRanges.temperature),
});

/**
 * Reads settings, keeping the default for each value that is missing or out of range, and says which were not used
 * so a surface can tell the user rather than silently ignore them.
 */
export function readSettings(input: Partial<Record<keyof ClarifySettings, unknown>>): { settings: ClarifySettings; problems: string[] } {
  const settings: ClarifySettings = { ...defaultSettings };
  const problems: string[] = [];
  for (const key of Object.keys(schema.shape) as (keyof ClarifySettings)[]) {
    const value = input[key];
    if (value === undefined) continue;
    const parsed = schema.shape[key].safeParse(value);
    if (parsed.success) (settings as Record<keyof ClarifySettings, unknown>)[key] = parsed.data;
    else
      problems.push(
        `${key}: ${JSON.stringify(value)} is not valid (${parsed.error.issues[0]?.message ?? "invalid"}); using ${JSON.stringify(defaultSettings[key])}.`,
      );
  }
  return { settings, problems };
}
