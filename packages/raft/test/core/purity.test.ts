// The core must stay pure: no clock, timers, randomness or I/O inside src/core (the driver owns them).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..', '..', 'src', 'core');
const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\.now\b|\bnew Date\b/, 'Date'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\bperformance\.now\b/, 'performance.now'],
  [/\bset(Timeout|Interval|Immediate)\b|\bqueueMicrotask\b|\bprocess\.nextTick\b/, 'timers'],
  [/from ['"]node:|require\(/, 'node built-ins / I/O'],
  [/\bcrypto\.|\bfetch\(/, 'crypto / network'],
  [/\bawait\b|\basync\b|\bPromise\b/, 'asynchrony'],
];

describe('purity of src/core', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  for (const f of files) {
    it(`${f} uses no clock, timer, randomness, I/O or asynchrony`, () => {
      const src = readFileSync(join(dir, f), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      for (const [re, what] of FORBIDDEN) expect(re.test(src), `${f} uses ${what}`).toBe(false);
    });
  }

  it('the check itself can fail', () => {
    const [re] = FORBIDDEN[0] as [RegExp, string];
    expect(re.test('const t = Date.now();')).toBe(true);
  });
});
