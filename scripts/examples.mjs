#!/usr/bin/env node
// The main job until apps/node exists: runs each package's runnable quick start
// (examples/quickstart.ts, the same code as the README's quick start) from source.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
let ran = 0;
for (const dir of readdirSync(path.join(root, 'packages')).map((n) => path.join(root, 'packages', n))) {
  if (!existsSync(path.join(dir, 'examples', 'quickstart.ts'))) continue;
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  console.log(`\n=== ${pkg.name}: examples/quickstart.ts ===`);
  execFileSync('pnpm', ['run', '--silent', 'example'], { cwd: dir, stdio: 'inherit' });
  ran++;
}
console.log(`\n${ran} examples ran`);
