import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * One contender in a comparison. `run(n)` performs exactly `n` operations, so loop overhead
 * and batching stay inside the contender and async contenders can keep many calls in flight.
 */
export interface Case {
  readonly name: string;
  /** Free-text note printed beside the row (what the case measures, peer version...). */
  readonly note?: string;
  readonly run: (n: number) => void | Promise<void>;
  readonly setup?: () => void | Promise<void>;
  readonly teardown?: () => void | Promise<void>;
}

export interface CompareOptions {
  /** Samples per case; cases are sampled round-robin so drift hits all of them alike. Default 7. */
  readonly samples?: number;
  /** Target duration of one sample in ms. Default 200. */
  readonly sampleMs?: number;
  /** Name of the case the ratios are relative to. Default: the first case. */
  readonly baseline?: string;
  /** Warm-up time per case in ms before calibration. Default 300. */
  readonly warmupMs?: number;
  /** Upper bound on operations per sample (for expensive operations). */
  readonly maxOpsPerSample?: number;
}

export interface Row {
  readonly name: string;
  readonly note?: string;
  readonly nsPerOp: number;
  readonly opsPerSec: number;
  /** Relative spread of the samples: (max - min) / median of ns/op. */
  readonly spread: number;
  /** nsPerOp / baseline nsPerOp: below 1 is faster than the baseline. */
  readonly timeRatio: number;
  /** baseline nsPerOp / nsPerOp: how many times faster than the baseline. */
  readonly speedup: number;
  readonly samples: number;
}

export interface Group {
  readonly group: string;
  readonly baseline: string;
  readonly rows: readonly Row[];
}

export interface Machine {
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly os: string;
}

/** A free-form table for results that are not ns/op comparisons (bytes per key, latencies...). */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

export interface Report {
  readonly package: string;
  readonly machine: Machine;
  readonly groups: readonly Group[];
  readonly tables?: readonly Table[];
  /** Goals from the issue, each with the measured figure and whether it was met. */
  readonly goals?: readonly Goal[];
  readonly notes?: readonly string[];
}

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

const now = (): number => performance.now();

async function timeRun(c: Case, n: number): Promise<number> {
  const t0 = now();
  const r = c.run(n);
  if (r !== undefined) await r;
  return now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Runs every case in one process, alternating samples between them, and reports medians
 * and ratios to the baseline. Prints a line per case as it goes.
 */
export async function compare(group: string, cases: readonly Case[], options: CompareOptions = {}): Promise<Group> {
  const samples = options.samples ?? 7;
  const sampleMs = options.sampleMs ?? 200;
  const warmupMs = options.warmupMs ?? 300;
  const maxOps = options.maxOpsPerSample ?? Number.MAX_SAFE_INTEGER;
  const baseline = options.baseline ?? cases[0]?.name;
  if (baseline === undefined) throw new Error('compare: no cases');
  const ops = new Map<Case, number>();
  for (const c of cases) {
    await c.setup?.();
    // Warm up and calibrate: grow n until a run takes a measurable time.
    let n = 1;
    const warmEnd = now() + warmupMs;
    let elapsed = await timeRun(c, n);
    while (now() < warmEnd || elapsed < sampleMs / 10) {
      if (elapsed < sampleMs / 4 && n < maxOps) n = Math.min(maxOps, n * 2);
      elapsed = await timeRun(c, n);
      if (n >= maxOps && now() >= warmEnd) break;
    }
    ops.set(c, Math.max(1, Math.min(maxOps, Math.round((n * sampleMs) / Math.max(elapsed, 0.001)))));
  }
  const times = new Map<Case, number[]>(cases.map((c) => [c, []]));
  for (let s = 0; s < samples; s++) {
    for (const c of cases) {
      const n = ops.get(c)!;
      const ms = await timeRun(c, n);
      times.get(c)!.push((ms * 1e6) / n);
    }
  }
  for (const c of cases) await c.teardown?.();
  const med = new Map(cases.map((c) => [c.name, median(times.get(c)!)]));
  const base = med.get(baseline);
  if (base === undefined) throw new Error(`compare: baseline ${baseline} is not a case`);
  const rows: Row[] = cases.map((c) => {
    const ts = times.get(c)!;
    const m = med.get(c.name)!;
    return {
      name: c.name,
      ...(c.note !== undefined ? { note: c.note } : {}),
      nsPerOp: m,
      opsPerSec: 1e9 / m,
      spread: (Math.max(...ts) - Math.min(...ts)) / m,
      timeRatio: m / base,
      speedup: base / m,
      samples: ts.length,
    };
  });
  console.log(`\n${group}`);
  for (const r of rows) console.log(`  ${r.name.padEnd(48)} ${fmtNs(r.nsPerOp).padStart(10)} ${fmtOps(r.opsPerSec).padStart(10)}  ×${r.timeRatio.toFixed(2)} time vs ${baseline}`);
  return { group, baseline, rows };
}

export function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

export function fmtOps(ops: number): string {
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M/s`;
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)}k/s`;
  return `${ops.toFixed(0)}/s`;
}

/** Finds a row by name, throwing if absent (for computing goal ratios). */
export function row(g: Group, name: string): Row {
  const r = g.rows.find((x) => x.name === name);
  if (r === undefined) throw new Error(`no row ${name} in ${g.group}`);
  return r;
}

export function toMarkdown(report: Report): string {
  const out: string[] = [];
  const m = report.machine;
  out.push(`_${m.date.slice(0, 10)} · Node ${m.node} · ${m.cpu} × ${m.cores} · ${m.memGiB} GiB · ${m.os}_`, '');
  if (report.goals !== undefined && report.goals.length > 0) {
    out.push('| goal | measured | met |', '|---|---|:-:|');
    for (const g of report.goals) out.push(`| ${g.goal} | ${g.measured} | ${g.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  for (const g of report.groups) {
    out.push(`**${g.group}** (ratios against \`${g.baseline}\`)`, '');
    out.push('| case | ns/op | ops/s | time vs baseline | spread | note |', '|---|---:|---:|---:|---:|---|');
    for (const r of g.rows) {
      out.push(`| ${r.name} | ${r.nsPerOp.toFixed(1)} | ${fmtOps(r.opsPerSec)} | ${r.timeRatio.toFixed(2)}× | ${(r.spread * 100).toFixed(0)}% | ${r.note ?? ''} |`);
    }
    out.push('');
  }
  for (const t of report.tables ?? []) {
    out.push(`**${t.title}**`, '', `| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
    for (const r of t.rows) out.push(`| ${r.join(' | ')} |`);
    out.push('');
  }
  for (const n of report.notes ?? []) out.push(`- ${n}`);
  return out.join('\n').trimEnd() + '\n';
}

/**
 * Writes `<pkgDir>/bench/results.json` and `<pkgDir>/bench/results.md`; `pnpm bench:report`
 * gathers these into the root BENCHMARKS.md.
 */
export function writeReport(pkgDir: string, report: Report): void {
  const dir = path.join(pkgDir, 'bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(dir, 'results.md'), toMarkdown(report));
  console.log(`\nwrote ${path.join(dir, 'results.json')} and results.md`);
}
