/**
 * report.html: one self-contained file (no script, no request, inline SVG charts drawn here from the report's data),
 * readable offline, printable, and safe to open whatever the model wrote: every piece of text is escaped, and the
 * page's Content-Security-Policy allows no script at all, so a slip would still not run anything.
 *
 * Hand-drawn SVG rather than an inlined charting library: the charts are plain bars and one curve, SVG needs no
 * JavaScript (a library such as Chart.js draws on a canvas from script, which the CSP forbids and which leaves
 * nothing for print or for text search), and the file stays small.
 */
import { categoryLabels } from "../../core/eval/benchmark.js";
import { judgeHealthRule } from "../../core/eval/metrics.js";
import {
  describeRun,
  fmt,
  judgeHealthCells,
  judgeHealthHead,
  judgeWarnings,
  metricRules,
  smallSampleNote,
  type CategoryChart,
  type ReferenceChart,
  type ReportData,
} from "../../core/eval/report-data.js";
import type { Calibration } from "../../core/eval/calibration.js";
import type { EvalRow } from "../../core/eval/results.js";

/** Escapes text for HTML content and double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}
const esc = escapeHtml;

const palette = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"];
const colorOf = (i: number): string => palette[i % palette.length] ?? "#2563eb";

function legend(series: readonly string[]): string {
  return `<div class="legend">${series.map((s, i) => `<span><i style="background:${colorOf(i)}"></i>${esc(s)}</span>`).join("")}</div>`;
}

/** Grouped vertical bars, 0-100%: one group per category, one bar per run. */
function categoryChartSvg(chart: CategoryChart, series: readonly string[]): string {
  const groups = chart.groups;
  const left = 40;
  const top = 16;
  const plotH = 200;
  const groupW = Math.max(52, 16 * series.length + 16);
  const width = left + groups.length * groupW + 10;
  const height = top + plotH + 44;
  const y = (v: number): number => top + plotH - (Math.max(0, Math.min(100, v)) / 100) * plotH;
  const parts: string[] = [];
  for (const tick of [0, 25, 50, 75, 100]) {
    parts.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(tick)}" y2="${y(tick)}" class="grid"/><text x="${left - 6}" y="${y(tick) + 4}" class="axis" text-anchor="end">${tick}</text>`,
    );
  }
  const barW = (groupW - 16) / Math.max(1, series.length);
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + 8;
    g.values.forEach((v, si) => {
      const x = x0 + si * barW;
      if (v === null) {
        parts.push(`<text x="${x + barW / 2}" y="${y(0) - 4}" class="value" text-anchor="middle">–</text>`);
        return;
      }
      parts.push(
        `<rect x="${x + 1}" y="${y(v)}" width="${Math.max(1, barW - 2)}" height="${y(0) - y(v)}" fill="${colorOf(si)}"><title>${esc(`${series[si] ?? ""}, ${g.label}: ${fmt(v)}%`)}</title></rect>`,
      );
      if (barW >= 14) parts.push(`<text x="${x + barW / 2}" y="${y(v) - 3}" class="value" text-anchor="middle">${fmt(v, 0)}</text>`);
    });
    parts.push(`<text x="${x0 + (groupW - 16) / 2}" y="${top + plotH + 16}" class="axis" text-anchor="middle">${esc(g.label)}</text>`);
  });
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(chart.title)} per category">${parts.join("")}</svg>`;
}

/** Horizontal bars, 0-100%: our runs in colour, the published rows in grey. */
function referenceChartSvg(chart: ReferenceChart, series: readonly string[]): string {
  const labelW = 230;
  const plotW = 220;
  const rowH = 18;
  const height = chart.bars.length * rowH + 8;
  const width = labelW + plotW + 50;
  const parts = chart.bars.map((b, i) => {
    const y = 4 + i * rowH;
    const w = (Math.max(0, Math.min(100, b.value)) / 100) * plotW;
    const fill = b.ours ? colorOf(Math.max(0, series.indexOf(b.label))) : "#9ca3af";
    return (
      `<text x="${labelW - 6}" y="${y + 12}" class="${b.ours ? "axis ours" : "axis"}" text-anchor="end">${esc(b.label.length > 38 ? `${b.label.slice(0, 37)}…` : b.label)}</text>` +
      `<rect x="${labelW}" y="${y + 2}" width="${Math.max(1, w)}" height="${rowH - 5}" fill="${fill}"><title>${esc(`${b.label}: ${fmt(b.value)}%`)}</title></rect>` +
      `<text x="${labelW + w + 4}" y="${y + 12}" class="value">${fmt(b.value)}</text>`
    );
  });
  return `<figure><figcaption>${esc(chart.title)}</figcaption><svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(chart.title)}">${parts.join("")}</svg></figure>`;
}

/** The sweep as a curve: asks on clear prompts (x) against asks on modified prompts (y), one point per threshold. */
function calibrationSvg(c: Calibration, color: string): string {
  const size = 260;
  const pad = 36;
  const plot = size - pad - 10;
  const x = (r: number): number => pad + r * plot;
  const y = (r: number): number => 10 + plot - r * plot;
  const pts = [...c.points].sort((a, b) => a.clearAskRate - b.clearAskRate || a.modifiedAskRate - b.modifiedAskRate);
  const parts: string[] = [
    `<rect x="${pad}" y="10" width="${plot}" height="${plot}" class="frame"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" class="chance"/>`,
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${x(p.clearAskRate).toFixed(1)},${y(p.modifiedAskRate).toFixed(1)}`).join(" ")}"/>`,
    ...pts.map(
      (p) =>
        `<circle cx="${x(p.clearAskRate)}" cy="${y(p.modifiedAskRate)}" r="2.5" fill="${color}"><title>${esc(`threshold ${p.threshold.toFixed(3)}: asks on ${fmt(p.modifiedAskRate * 100)}% of modified, ${fmt(p.clearAskRate * 100)}% of clear prompts`)}</title></circle>`,
    ),
    `<line x1="${x(c.maxClearAskRate)}" y1="10" x2="${x(c.maxClearAskRate)}" y2="${y(0)}" class="budget"/>`,
  ];
  const s = c.suggestion;
  parts.push(
    `<circle cx="${x(s.clearAskRate)}" cy="${y(s.modifiedAskRate)}" r="6" fill="none" stroke="#111" stroke-width="2"><title>${esc(`suggested threshold ${s.threshold.toFixed(3)}`)}</title></circle>`,
  );
  if (c.current)
    parts.push(
      `<rect x="${x(c.current.clearAskRate) - 4}" y="${y(c.current.modifiedAskRate) - 4}" width="8" height="8" fill="none" stroke="#dc2626" stroke-width="2"><title>${esc(`the run's threshold ${c.current.threshold}`)}</title></rect>`,
    );
  for (const t of [0, 0.5, 1]) {
    parts.push(`<text x="${x(t)}" y="${size - 12}" class="axis" text-anchor="middle">${t * 100}%</text>`);
    parts.push(`<text x="${pad - 4}" y="${y(t) + 4}" class="axis" text-anchor="end">${t * 100}%</text>`);
  }
  parts.push(`<text x="${pad + plot / 2}" y="${size}" class="axis" text-anchor="middle">asks on original (clear) prompts</text>`);
  parts.push(`<text x="10" y="${10 + plot / 2}" class="axis" text-anchor="middle" transform="rotate(-90 10 ${10 + plot / 2})">asks on modified prompts</text>`);
  return `<svg viewBox="0 0 ${size} ${size + 4}" width="${size}" height="${size + 4}" role="img" aria-label="ask threshold sweep">${parts.join("")}</svg>`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

function itemDetails(row: EvalRow): string {
  const first = row.judge[0];
  const grade = first === undefined ? "" : first.quality !== undefined ? ` · grade ${first.quality}${first.notGood ? " (counted 2)" : ""}` : " · no grade";
  const summary = `${esc(row.id)} · ${row.asked ? "asked" : "coded"}${grade} · ${row.tests.passed}/${row.tests.total} passed${row.error ? ` · error: ${esc(row.error)}` : row.failure ? ` · failed: ${esc(row.failure)}` : ""}`;
  const exchanges = row.exchanges
    .map(
      (x) =>
        `<h4>${esc(x.who)} · ${esc(x.kind)} · ${Math.round(x.ms)} ms${x.stopReason ? ` · ${esc(x.stopReason)}` : ""}</h4><pre class="sent">${esc(x.sent)}</pre><pre>${esc(x.reply)}</pre>`,
    )
    .join("");
  const judge = row.judge
    .map(
      (j, i) =>
        `<p>Judge, round ${i + 1}: ${j.quality !== undefined ? `grade ${j.quality}${j.notGood ? ` (${esc(j.notGood)})` : ""}` : `no grade (${esc(j.noGrade ?? "")})`}${j.requirements && j.requirements.length > 0 ? `; requirements: ${j.requirements.map((r) => `${esc(r.text)} (${r.recovered ? "asked" : "not asked"})`).join("; ")}` : ""}</p>`,
    )
    .join("");
  const statuses = row.tests.statuses.map((s, i) => `${i + 1}. ${esc(s)}`).join("<br>");
  return `<details><summary>${summary}</summary>${judge}<h4>Tested code</h4><pre>${esc(row.code === "" ? "(none)" : row.code)}</pre><p class="small">${statuses}</p>${exchanges}</details>`;
}

const style = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}h4{font-size:12px;margin:8px 0 2px;color:#555}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.legend span{margin-right:16px;white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;margin-right:5px}
.grid{stroke:#e5e7eb}.axis{font-size:11px;fill:#444}.ours{font-weight:bold;fill:#111}.value{font-size:10px;fill:#333}
.frame{fill:none;stroke:#ccc}.chance{stroke:#bbb;stroke-dasharray:4 3}.budget{stroke:#16a34a;stroke-dasharray:2 3}
.charts{display:flex;flex-wrap:wrap;gap:16px 32px}figure{margin:0}figcaption{font-weight:600;font-size:13px}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:6px;margin:2px 0;font-size:12px;max-height:320px;overflow:auto}
pre.sent{background:#eef2ff}details{border-bottom:1px solid #eee;padding:2px 0}summary{cursor:pointer}.small{font-size:12px;color:#444}.note{color:#555}.warning{background:#fef3c7;border-left:4px solid #d97706;padding:6px 10px}
`;

interface ItemTables {
  run: string;
  rows: readonly EvalRow[];
}

/** The whole report page. At most `maxItems` items per run are shown in detail (the rest are in results.jsonl). */
export function renderReportHtml(data: ReportData, items: readonly ItemTables[] = [], maxItems = 300): string {
  const body: string[] = [];
  body.push(`<h1>HumanEvalComm evaluation</h1>`);
  body.push(`<ul>${data.runs.map((r, i) => `<li><b style="color:${colorOf(i)}">${esc(r.name)}</b>: ${esc(describeRun(r))}</li>`).join("")}</ul>`);
  for (const w of judgeWarnings(data.runs)) body.push(`<p class="warning"><b>Warning:</b> ${esc(w)}</p>`);
  body.push(`<p class="note">${esc(metricRules)} All in percent.</p>`);

  body.push(`<h2>Per category</h2>${legend(data.series)}`);
  body.push(
    `<div class="charts">${data.categoryCharts.map((chart) => `<figure><figcaption>${esc(chart.title)} (%)</figcaption>${categoryChartSvg(chart, data.series)}</figure>`).join("")}</div>`,
  );
  body.push(
    `<p class="note">${Object.entries(categoryLabels)
      .map(([k, v]) => `${esc(k)}: ${esc(v)}`)
      .join(" · ")}</p>`,
  );

  body.push(
    `<h2>Beside the published results</h2><p class="note">HumanEvalComm's published rows (grey) are over all 164 problems with gpt-3.5-turbo as the judge at temperature 1; a sample and another judge move these numbers, so read them as reference points.</p>`,
  );
  body.push(`<div class="charts">${data.referenceCharts.map((c) => referenceChartSvg(c, data.series)).join("")}</div>`);

  body.push(`<h2>The cost of asking</h2>`);
  body.push(
    table(
      [
        "run",
        "asks on clear prompts %",
        "pass@1 original %",
        "pass@1 modified %",
        "test pass rate original %",
        "modified %",
        "turns to code",
        "key-question coverage % (items)",
      ],
      data.cost.map((c) => [
        esc(c.run),
        fmt(c.clearAskRate),
        fmt(c.pass1Original),
        fmt(c.pass1Modified),
        fmt(c.testPassRateOriginal),
        fmt(c.testPassRateModified),
        fmt(c.turnsToCode, 2),
        `${fmt(c.coverage)} (${c.coverageItems})`,
      ]),
    ),
  );
  body.push(
    `<p class="note">Turns to code: each round of questions is one turn and the code is one. Key-question coverage: of the requirements the judge says the modification changed, the share the first questions asked about (json judge replies only).</p>`,
  );

  body.push(`<h2>Ask threshold</h2>`);
  for (const [i, { run, calibration }] of data.calibrations.entries()) {
    if ("unavailable" in calibration) {
      body.push(`<p><b>${esc(run)}</b>: no calibration (${esc(calibration.unavailable)}).</p>`);
      continue;
    }
    const s = calibration.suggestion;
    body.push(
      `<div class="charts"><div>${calibrationSvg(calibration, colorOf(i))}</div><div><p><b>${esc(run)}</b>: suggested <code>clarifycoder.askThreshold</code> = <b>${s.threshold.toFixed(3)}</b> (circled): it asks on ${fmt(s.modifiedAskRate * 100)}% of modified and ${fmt(s.clearAskRate * 100)}% of original prompts (${calibration.modifiedItems} and ${calibration.clearItems} prompts).</p><p>In VS Code's settings.json: <code>"clarifycoder.askThreshold": ${s.threshold}</code></p><p class="note">Rule: ${esc(calibration.rule)}. The dotted green line is that budget; the dashed diagonal is asking at random.${s.separates ? "" : " On this sample the probability of asking does not separate unclear from clear prompts, so no threshold helps much."}${calibration.smallSample ? ` ${smallSampleNote}` : ""}${calibration.current ? ` The square is the run's own threshold (${calibration.current.threshold}).` : ""}</p></div></div>`,
    );
  }

  body.push(`<h2>The judge's health</h2>`);
  body.push(
    table(
      judgeHealthHead.map(esc),
      data.runs.map((r) => judgeHealthCells(r).map(esc)),
    ),
  );
  body.push(`<p class="note">Rule: ${esc(judgeHealthRule)}.</p>`);

  body.push(`<h2>Counts</h2>`);
  body.push(
    table(
      [
        "run",
        "items",
        "errors",
        "judge replies without a grade",
        "engine failures",
        "malformed benchmark rows",
        "sandbox",
        "s per item (model / judge / tests)",
      ],
      data.runs.map((r) => {
        const all = Object.values(r.metrics.byCategory);
        const sum = (pick: (m: NonNullable<(typeof all)[number]>) => number): number => all.reduce((n, m) => n + (m ? pick(m) : 0), 0);
        return [
          esc(r.name),
          `${r.items.evaluated}/${r.items.planned}`,
          String(r.items.errors),
          String(sum((m) => m.noGrade)),
          String(sum((m) => m.failures)),
          String(r.malformedRows.length),
          esc(`${r.sandbox.python}; network ${r.sandbox.network}; ${r.sandbox.caseTimeoutMs / 1000} s and ${r.sandbox.memoryMb} MB per case`),
          `${fmt(r.seconds.item)} (${fmt(r.seconds.model)} / ${fmt(r.seconds.judge)} / ${fmt(r.seconds.tests)})`,
        ];
      }),
    ),
  );
  for (const r of data.runs) {
    if (r.malformedRows.length > 0)
      body.push(
        `<p class="small">Malformed rows in ${esc(r.manifest.benchmark.file)}: ${r.malformedRows.map((m) => `line ${m.line}: ${esc(m.reason)}`).join("; ")}</p>`,
      );
    if (r.metrics.errors.length > 0)
      body.push(
        `<p class="small">Not evaluated in ${esc(r.name)} (retried on the next run): ${r.metrics.errors
          .slice(0, 20)
          .map((e) => `${esc(e.id)}: ${esc(e.error)}`)
          .join("; ")}</p>`,
      );
  }

  for (const t of items) {
    body.push(`<h2>Items of ${esc(t.run)}</h2>`);
    body.push(t.rows.slice(0, maxItems).map(itemDetails).join(""));
    if (t.rows.length > maxItems) body.push(`<p class="note">${t.rows.length - maxItems} more items are in results.jsonl.</p>`);
  }

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HumanEvalComm evaluation: ${esc(data.series.join(", "))}</title>
<style>${style}</style></head>
<body>
${body.join("\n")}
</body></html>
`;
}
