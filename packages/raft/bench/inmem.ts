/** 3-node in-memory cluster in one process: committed entries per second with many proposals in flight. */
import type { Entry } from '../src/index.js';
import { createRaftCluster } from '../src/node/index.js';
import type { StateMachine } from '../src/node/index.js';

class CountingMachine implements StateMachine {
  applied = 0;
  apply(_e: Entry): number {
    return ++this.applied;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(8);
  }
  restore(): void {
    this.applied = 0;
  }
}

export interface InMemResult {
  readonly entriesPerSec: number;
  readonly committed: number;
  readonly seconds: number;
  readonly inflight: number;
}

/** Keeps `inflight` proposals of `valueBytes` outstanding on the leader for `ms`. */
export async function inMemoryThroughput(ms: number, inflight: number, valueBytes = 256): Promise<InMemResult> {
  const cluster = await createRaftCluster({
    ids: ['a', 'b', 'c'],
    stateMachine: () => new CountingMachine(),
    snapshotEvery: 20_000,
    snapshotTrailing: 2_000,
    core: { maxSizePerMsg: 4 << 20, maxInflightMsgs: 64, maxUncommittedEntriesSize: 1 << 30, maxCommittedSizePerReady: 64 << 20 },
  });
  try {
    const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(10_000) });
    const value = new Uint8Array(valueBytes).fill(7);
    // warm-up
    await Promise.all(Array.from({ length: 1000 }, () => leader.propose(value)));
    let committed = 0;
    let stop = false;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (!stop) {
        await leader.propose(value);
        committed++;
      }
    };
    const timer = setTimeout(() => (stop = true), ms);
    await Promise.all(Array.from({ length: inflight }, worker));
    clearTimeout(timer);
    const seconds = (performance.now() - t0) / 1000;
    return { entriesPerSec: committed / seconds, committed, seconds, inflight };
  } finally {
    await cluster.close();
  }
}

if (process.argv[1]?.endsWith('inmem.ts')) {
  for (const n of [1, 256, 4096]) console.log(await inMemoryThroughput(2000, n));
}
