import { describe, expect, it } from 'vitest';
import { compare, row, toMarkdown, machine } from './index.js';

describe('compare', () => {
  it('ranks a slower case slower and reports ratios against the baseline', async () => {
    let sink = 0;
    const g = await compare('demo', [
      { name: 'cheap', run: (n) => { for (let i = 0; i < n; i++) sink += i; } },
      { name: 'costly', run: (n) => { for (let i = 0; i < n; i++) for (let j = 0; j < 50; j++) sink += j; } },
    ], { samples: 3, sampleMs: 20, warmupMs: 20 });
    expect(sink).toBeGreaterThan(0);
    expect(row(g, 'cheap').timeRatio).toBe(1);
    expect(row(g, 'costly').timeRatio).toBeGreaterThan(2);
    expect(row(g, 'costly').speedup).toBeCloseTo(1 / row(g, 'costly').timeRatio);
    const md = toMarkdown({ package: 'x', machine: machine(), groups: [g], goals: [{ goal: 'g', measured: 'm', met: false }] });
    expect(md).toContain('| costly |');
    expect(md).toContain('**no**');
  });
});
