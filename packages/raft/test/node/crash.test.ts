import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/node/index.js';
import { payload } from './fixtures/payload.js';
import { terminate, track } from './procs-util.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// `node --import tsx/esm` runs the TypeScript child in ONE process (the tsx CLI would fork a
// grandchild that survives SIGKILL of its parent).
const tsxEsm = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Batch {
  first: number;
  count: number;
  term: number;
}

/**
 * Runs the writer child until it has acknowledged `acks` more batches, then SIGKILLs it. A child
 * that makes no progress within `stallMs` (generous: a loaded CI machine is slow) is killed and
 * the round fails, so no writer outlives a failed test.
 */
function runAndKill(dir: string, seed: number, acks: number, stallMs = 60_000): Promise<{ acked: Batch[]; inflight: Batch | undefined; start: [number, number] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsxEsm, '--conditions=@abi/source', path.join(here, 'fixtures', 'wal-writer.ts'), dir, String(seed)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acked: Batch[] = [];
    let inflight: Batch | undefined;
    let start: [number, number] = [0, 0];
    let buf = '';
    let killed = false;
    track(child);
    let stall: NodeJS.Timeout | undefined;
    const watchdog = (): void => {
      clearTimeout(stall);
      stall = setTimeout(() => {
        reject(new Error(`writer made no progress for ${stallMs} ms (${acked.length}/${acks} batches acknowledged)`));
        void terminate(child);
      }, stallMs);
    };
    watchdog();
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      watchdog();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        const [kind, a, b, c] = line;
        if (kind === 'start') start = [Number(a), Number(b)];
        else if (kind === 'intend') inflight = { first: Number(a), count: Number(b), term: Number(c) };
        else if (kind === 'ack') {
          acked.push({ first: Number(a), count: Number(b), term: Number(c) });
          inflight = undefined;
          if (acked.length >= acks && !killed) {
            killed = true;
            child.kill('SIGKILL');
          }
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(stall);
      if (!killed) reject(new Error(`writer exited early: code ${code} signal ${signal}`));
      else resolve({ acked, inflight, start });
    });
  });
}

function applyBatch(log: Map<number, number>, b: Batch): void {
  for (const k of [...log.keys()]) if (k >= b.first) log.delete(k);
  for (let i = 0; i < b.count; i++) log.set(b.first + i, b.term);
}

describe('FileStorage survives kill -9 of a process that is appending', () => {
  it('every acknowledged entry is recovered intact across repeated SIGKILLs (segment rollover, truncation, compaction)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'raft-crash-'));
    dirs.push(dir);
    // What the recovered storage must contain: term per index (ack'ed state), rebuilt per round.
    let expected = new Map<number, number>();
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const { acked, inflight, start } = await runAndKill(dir, round + 1, 40 + round * 13);
      // On start the child saw exactly what the previous recovery saw.
      if (round > 0) expect(start[1]).toBeGreaterThanOrEqual(Math.max(0, ...expected.keys()));
      for (const b of acked) applyBatch(expected, b);
      const s = await FileStorage.open(dir, { segmentBytes: 8192 });
      try {
        // The in-flight batch may or may not have reached the disk; either outcome is allowed.
        const withInflight = new Map(expected);
        if (inflight !== undefined) applyBatch(withInflight, inflight);
        const candidates = [expected, withInflight];
        const matches = candidates.filter((exp) => {
          const last = Math.max(0, ...exp.keys());
          if (s.lastIndex() !== last) return false;
          for (let i = s.firstIndex(); i <= last; i++) if (s.term(i) !== exp.get(i)) return false;
          return true;
        });
        const firstBad = (exp: Map<number, number>): string => {
          for (let i = s.firstIndex(); i <= s.lastIndex(); i++) if (s.term(i) !== exp.get(i)) return `index ${i}: term ${s.term(i)} vs ${exp.get(i)}`;
          return `last ${Math.max(0, ...exp.keys())}`;
        };
        expect(matches.length, `round ${round}: recovered log (first ${s.firstIndex()}, last ${s.lastIndex()}; ${firstBad(expected)}; ${firstBad(withInflight)}) is neither the acknowledged log nor it plus the in-flight batch`).toBeGreaterThan(0);
        for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1)) {
          expect(Buffer.from(e.data).equals(Buffer.from(payload(e.index, e.term))), `data of entry ${e.index}`).toBe(true);
        }
        expected = matches[0] === expected ? expected : withInflight;
        expect(s.hardState.term).toBeGreaterThanOrEqual(Math.max(0, ...acked.map((b) => b.term)));
      } finally {
        await s.close();
      }
    }
  }, 300_000); // normally ~3 s; bounded by the per-round watchdog too
});
