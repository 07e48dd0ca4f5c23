#!/usr/bin/env node
// `pnpm bench`: runs every package's bench/ (one at a time, so they do not share the two cores)
// and gathers each package's bench/results.json into BENCHMARKS.md.
// `pnpm bench:report`: only gathers. `pnpm bench -- --filter @abi/breaker`: one package.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const reportOnly = args.includes('--report-only');
const fi = args.indexOf('--filter');
const filter = fi >= 0 ? args[fi + 1] : undefined;

const pkgDirs = ['packages', 'apps']
  .flatMap((d) => (existsSync(path.join(root, d)) ? readdirSync(path.join(root, d)).map((n) => path.join(root, d, n)) : []))
  .filter((d) => existsSync(path.join(d, 'package.json')));

if (!reportOnly) {
  for (const dir of pkgDirs) {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    if (!pkg.scripts?.bench || !existsSync(path.join(dir, 'bench'))) continue;
    if (filter && pkg.name !== filter) continue;
    console.log(`\n=== ${pkg.name} ===`);
    execFileSync('pnpm', ['run', 'bench'], { cwd: dir, stdio: 'inherit' });
  }
}

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown';
const out = [
  '# Benchmarks',
  '',
  'Written by `pnpm bench` (every package) or `pnpm bench:report` (gather only) from each package\'s',
  '`bench/results.json`. Peers run in the same process as ours, samples alternate between contenders,',
  'and every figure is a median. Ratios are what the goals are stated in; absolute numbers move',
  'with the machine.',
  '',
  `Gathered ${new Date().toISOString().slice(0, 10)} on ${cpu} × ${os.cpus().length}, Node ${process.version}. Each package section names the machine and date of its own run (hosts differ between sessions: compare ratios, not absolute figures, across packages)`,
  '',
];
const json = {};
const sections = [];
const summary = ['## Goals at a glance', '', '| package | goal | measured | met | run |', '|---|---|---|:-:|---|'];
for (const dir of pkgDirs) {
  const f = path.join(dir, 'bench', 'results.json');
  if (!existsSync(f)) continue;
  const report = JSON.parse(readFileSync(f, 'utf8'));
  json[report.package] = report;
  for (const g of report.goals ?? []) {
    const cell = (s) => String(s).replaceAll('|', '\\|');
    summary.push(`| ${report.package} | ${cell(g.goal)} | ${cell(g.measured)} | ${g.met ? 'yes' : '**no**'} | ${report.machine.date.slice(0, 16).replace('T', ' ')} |`);
  }
  sections.push(`## ${report.package}`, '', readFileSync(path.join(dir, 'bench', 'results.md'), 'utf8').trimEnd(), '');
}
out.push(...summary, '', ...sections);
out.push('## Raw results (JSON)', '', '```json', JSON.stringify(json, null, 1), '```', '');
writeFileSync(path.join(root, 'BENCHMARKS.md'), out.join('\n'));
console.log(`wrote BENCHMARKS.md (${Object.keys(json).length} packages)`);
