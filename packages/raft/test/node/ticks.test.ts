import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../src/core/types.js';
import { KvStateMachine, MemoryRaftStorage, RaftNode } from '../../src/node/index.js';

// RaftNode derives ticks from a monotonic clock: a timer fire delivers every tick period that
// elapsed, so ticks missed while the event loop stalled are replayed (bounded), and an inbound
// message first catches up the ticks that passed before it. The clock is injected and only
// setInterval is faked, so the test controls both the passing of time and the timer fires.

let clock = 0;
const open: RaftNode[] = [];
afterEach(async () => {
  for (const n of open.splice(0)) await n.close();
  vi.useRealTimers();
});

async function follower(): Promise<{ node: RaftNode; sent: Message[] }> {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  clock = 1_000;
  const sent: Message[] = [];
  const node = await RaftNode.start({
    id: 'n1',
    storage: new MemoryRaftStorage(),
    stateMachine: new KvStateMachine(),
    bootstrap: ['n1', 'n2', 'n3'], // n2 and n3 never answer: n1 stays a (pre-)candidate at most
    network: { send: (ms) => { sent.push(...ms); } },
    random: () => 0, // election timeout exactly electionTick (15 ticks)
    tickMs: 10,
    clock: () => clock,
  });
  open.push(node);
  // let the ready loop apply the bootstrap configuration (a node with unapplied membership does not campaign)
  for (let i = 0; i < 100 && node.metrics().applied < 1; i++) await new Promise((r) => setImmediate(r));
  expect(node.metrics().applied).toBe(1);
  return { node, sent };
}

/** Advances the clock and fires the interval `fires` times, with `stallMs` passing before the first fire unnoticed. */
function run(stallMs: number, fires: number): void {
  clock += stallMs;
  for (let i = 0; i < fires; i++) {
    clock += 10;
    vi.advanceTimersByTime(10);
  }
}

describe('RaftNode ticks from a monotonic clock', () => {
  it('one tick per period while the event loop keeps up', async () => {
    const { node } = await follower();
    run(0, 7);
    expect(node.ticks).toBe(7);
    clock += 4; // less than a period: nothing due yet
    vi.advanceTimersByTime(10);
    expect(node.ticks).toBe(7);
    clock += 6;
    vi.advanceTimersByTime(10);
    expect(node.ticks).toBe(8);
  });

  it('ticks missed during an event-loop stall are replayed on the next timer fire', async () => {
    const { node, sent } = await follower();
    run(0, 2);
    expect(node.ticks).toBe(2);
    // a 200 ms stall (GC, a long synchronous snapshot): the interval could not fire, 20 periods passed
    run(200, 1);
    expect(node.ticks).toBe(23);
    // the core saw the time pass: its 15-tick election timeout expired and it started a pre-vote
    expect(node.metrics().role).toBe('pre-candidate');
    for (let i = 0; i < 100 && !sent.some((m) => m.type === 'prevote'); i++) await new Promise((r) => setImmediate(r));
    expect(sent.filter((m) => m.type === 'prevote').map((m) => m.to).sort()).toEqual(['n2', 'n3']);
  });

  it('an inbound message first catches up the ticks that passed before it', async () => {
    const { node } = await follower();
    run(0, 1);
    clock += 120; // stalled: 12 periods passed, no timer fired
    node.step({ type: 'heartbeat', from: 'n2', to: 'n1', term: 1, commit: 0, context: '' });
    expect(node.ticks).toBe(13);
  });

  it('catch-up is bounded: a very long stall replays at most 2 × electionTick ticks and owes nothing after', async () => {
    const { node } = await follower();
    run(0, 1);
    run(60_000, 1); // one minute frozen (a stopped process): 6 001 periods elapsed
    expect(node.ticks).toBe(1 + 30);
    run(0, 3);
    expect(node.ticks).toBe(34);
  });
});
