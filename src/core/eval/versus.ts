/**
 * The clarify engine against the bare model on the same items: the four figures the product promises (ask on at
 * most 10% of clear prompts; at least 50 points more often on modified ones; pass@1 on clear prompts no more than 2
 * points below the bare model's; pass@1 on modified prompts above it), each with how far it is from its goal.
 */
import type { EvalRow } from "./results.js";

export interface RunRows {
  name: string;
  rows: readonly EvalRow[];
  judge: string;
  /** How the run decided to ask (the engine's method and threshold), in words. */
  decision: string;
}

interface Figures {
  items: number;
  askClear: number;
  askModified: number;
  passClear: number;
  passModified: number;
  secondsPerItem: number;
}

interface Goal {
  name: string;
  met: boolean;
  /** The figure and its goal, in words. */
  detail: string;
}

const share = (rows: readonly EvalRow[], test: (r: EvalRow) => boolean): number => (rows.length === 0 ? 0 : rows.filter(test).length / rows.length);
const passed = (r: EvalRow): boolean => r.tests.total > 0 && r.tests.passed === r.tests.total;

/** The figures of one run over the items given (finished items only: a row with an error is not an outcome). */
function figuresOf(rows: readonly EvalRow[]): Figures {
  const clear = rows.filter((r) => r.category === "original");
  const modified = rows.filter((r) => r.category !== "original");
  return {
    items: rows.length,
    askClear: share(clear, (r) => r.asked),
    askModified: share(modified, (r) => r.asked),
    passClear: share(clear, passed),
    passModified: share(modified, passed),
    secondsPerItem: rows.length === 0 ? 0 : rows.reduce((n, r) => n + r.ms.total, 0) / rows.length / 1000,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const points = (x: number): string => `${(100 * x).toFixed(1)} points`;

/** Compares the engine with the bare model on the items both finished. */
export function versus(bare: RunRows, engine: RunRows): { bare: Figures; engine: Figures; goals: Goal[]; common: number } {
  const ok = (r: EvalRow): boolean => r.error === undefined;
  const engineIds = new Set(engine.rows.filter(ok).map((r) => r.id));
  const common = new Set(bare.rows.filter((r) => ok(r) && engineIds.has(r.id)).map((r) => r.id));
  const b = figuresOf(bare.rows.filter((r) => common.has(r.id)));
  const e = figuresOf(engine.rows.filter((r) => common.has(r.id)));
  const goals: Goal[] = [
    { name: "asks on clear prompts <= 10%", met: e.askClear <= 0.1 + 1e-9, detail: `${pct(e.askClear)}` },
    {
      name: "asks >= 50 points more on modified than on clear",
      met: e.askModified - e.askClear >= 0.5 - 1e-9,
      detail: `${points(e.askModified - e.askClear)} (${pct(e.askModified)} - ${pct(e.askClear)})`,
    },
    { name: "pass@1 on clear >= bare - 2 points", met: e.passClear >= b.passClear - 0.02 - 1e-9, detail: `${pct(e.passClear)} vs bare ${pct(b.passClear)}` },
    { name: "pass@1 on modified > bare", met: e.passModified > b.passModified + 1e-9, detail: `${pct(e.passModified)} vs bare ${pct(b.passModified)}` },
  ];
  return { bare: b, engine: e, goals, common: common.size };
}

/** The comparison as a few lines of text, for the terminal and the report. */
export function versusText(bare: RunRows, engine: RunRows): string {
  const v = versus(bare, engine);
  const row = (name: string, f: Figures): string =>
    `| ${name} | ${pct(f.askModified)} | ${pct(f.askClear)} | ${pct(f.passModified)} | ${pct(f.passClear)} | ${f.secondsPerItem.toFixed(0)} |`;
  return [
    `Engine (${engine.name}, ${engine.decision}) against bare (${bare.name}) on the ${v.common} items both finished; judge: ${engine.judge}.`,
    "",
    "| run | asks on modified | asks on clear | pass@1 modified | pass@1 clear | s per item |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    row(`bare: ${bare.name}`, v.bare),
    row(`engine: ${engine.name}`, v.engine),
    "",
    ...v.goals.map((g) => `${g.met ? "met    " : "not met"}  ${g.name}: ${g.detail}`),
  ].join("\n");
}
