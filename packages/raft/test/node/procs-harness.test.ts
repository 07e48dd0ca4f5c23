import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts } from './ports.js';
import { ProcessCluster } from './tcp-procs.js';

// The multi-process harness itself: a node killed by a signal we did not send while it starts is
// restarted; a node that crashes on its own fails the start at once; closing never waits for an
// exit that already happened (what made an afterEach hang for its whole timeout before).

const open: ProcessCluster[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}, 60_000);

async function single(extra: string[] = []): Promise<ProcessCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'raft-harness-'));
  dirs.push(dir);
  const c = new ProcessCluster(await freePorts(1), dir, extra);
  open.push(c);
  return c;
}

describe('ProcessCluster (multi-process test harness)', () => {
  it('a node SIGKILLed by someone else while starting is started again', async () => {
    const c = await single();
    const started = c.start('n1');
    const pid = c.pid('n1')!;
    process.kill(pid, 'SIGKILL'); // not through the harness: like the OOM killer or a stray kill
    await started;
    expect(c.retriedStarts).toHaveLength(1);
    expect(c.retriedStarts[0]).toContain('SIGKILL');
    expect(c.pid('n1')).not.toBe(pid);
  }, 120_000);

  it('a node that exits with an error of its own fails the start at once, with its stderr', async () => {
    const c = await single(['--tick-ms', 'zero']);
    await expect(c.start('n1')).rejects.toThrow(/exited with code \d+ before ready[\s\S]*--tick-ms must be a positive number/);
    expect(c.retriedStarts).toEqual([]);
    expect(c.isUp('n1')).toBe(false);
  }, 120_000);

  it('close() returns when a node already died on its own; starting after close() fails', async () => {
    const c = await single();
    await c.start('n1');
    const pid = c.pid('n1')!;
    process.kill(pid, 'SIGKILL');
    // wait until the process is really gone (signal 0 probes it)
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await c.close(); // before the fix: awaited an 'exit' event that had already fired, forever
    await expect(c.start('n1')).rejects.toThrow(/closed/);
  }, 120_000);
});
