/** Settings from any surface (VS Code configuration, CLI flags), checked and clamped into ClarifySettings. */
import { z } from "zod";
import { defaultSettings, type ClarifySettings } from "./types.js";

const schema = z.object({
  askPolicy: z.enum(["auto", "always", "never"]),
  maxQuestions: z.number().int().min(1).max(10),
  maxRounds: z.number().int().min(1).max(5),
  askThreshold: z.number().min(0).max(1),
  style: z.enum(["guided", "native"]),
  maxAssessmentTokens: z.number().int().min(32).max(8192),
  maxCodeTokens: z.number().int().min(16).max(32768),
  temperature: z.number().min(0).max(2),
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
    else problems.push(`${key}: ${JSON.stringify(value)} is not valid (${parsed.error.issues[0]?.message ?? "invalid"}); using ${JSON.stringify(defaultSettings[key])}.`);
  }
  return { settings, problems };
}
