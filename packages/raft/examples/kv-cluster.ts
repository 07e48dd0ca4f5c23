// The README's `@abi/raft/node` quick start, runnable:
//   pnpm --filter @abi/raft exec tsx --conditions=@abi/source examples/kv-cluster.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRaftCluster, FileStorage, KvNode, KvStateMachine } from '@abi/raft/node';

const dataDir = mkdtempSync(path.join(tmpdir(), 'abi-raft-demo-'));
try {
  const sms = new Map<string, KvStateMachine>();
  await using cluster = await createRaftCluster({
    ids: ['a', 'b', 'c'],
    stateMachine: (id) => {
      const sm = new KvStateMachine();
      sms.set(id, sm);
      return sm;
    },
    storage: (id) => FileStorage.open(path.join(dataDir, id)), // default: in memory
  });
  const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(5_000) });
  const kv = new KvNode(leader, sms.get(leader.id)!);
  await kv.put('x', 1);
  console.log('cas 1 → 2:', await kv.cas('x', 1, 2)); // { ok: true }
  const follower = ['a', 'b', 'c'].find((id) => id !== leader.id)!;
  console.log(`read on follower ${follower}:`, await new KvNode(cluster.node(follower), sms.get(follower)!).get('x')); // 2 (ReadIndex)
  console.log('leader metrics:', leader.metrics());
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
