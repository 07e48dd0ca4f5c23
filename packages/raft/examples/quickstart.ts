// The README quick start, runnable: `pnpm --filter @abi/raft example` (a 3-node cluster in one process).
import { createRaftCluster, KvNode, KvStateMachine } from '@abi/raft/node';

const sms = new Map<string, KvStateMachine>();
await using cluster = await createRaftCluster({
  ids: ['a', 'b', 'c'],
  stateMachine: (id) => { const sm = new KvStateMachine(); sms.set(id, sm); return sm; },
  // storage: (id) => FileStorage.open(`/var/lib/demo/${id}`),  // default: in memory
});
const kv = (id: string): KvNode => new KvNode(cluster.node(id), sms.get(id)!);

const leader = await cluster.waitForLeader({ signal: AbortSignal.timeout(5_000) });
await kv(leader.id).put('x', 1);                           // resolves once committed and applied
console.log('cas:', await kv(leader.id).cas('x', 1, 2));   // { ok: true }
const b = ['a', 'b', 'c'].find((id) => id !== leader.id)!;
console.log('get on follower:', await kv(b).get('x'));     // 2 — linearizable on a follower (ReadIndex)

// Leader change: hand leadership to the follower, then write through it.
const elected = new Promise<void>((resolve) => {
  const sub = cluster.node(b).onRoleChange((role) => { if (role === 'leader') { sub[Symbol.dispose](); resolve(); } });
});
leader.transferLeadership(b);
await elected;
await kv(b).put('x', 3);
console.log(`new leader ${b}:`, await kv(leader.id).get('x')); // 3 — the old leader, now a follower, reads it too
