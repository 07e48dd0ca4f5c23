import type { RaftConfig } from '../core/config.js';
import { seededRandom } from '../core/config.js';
import { isRaftError } from '../errors.js';
import type { Entry, Message, NodeId } from '../core/types.js';
import { encodeKvCommand, KvStateMachine } from './kv.js';
import type { KvCommand } from './kv.js';
import type { KvOp } from './linearizability.js';
import { checkKvHistory } from './linearizability.js';
import { MemoryNode } from './memory-node.js';

/** Options of one simulated run. Everything not given is derived from `seed` ("swarm" testing). */
export interface SimulationOptions {
  readonly seed: number;
  /** Ticks with faults. @default 300 */
  readonly faultTicks?: number;
  /** Ticks after healing everything (liveness must hold). @default 150 */
  readonly settleTicks?: number;
  /** Concurrent clients. @default 4 */
  readonly clients?: number;
  /** Initial voters. @default 3 or 5, from the seed */
  readonly nodes?: number;
  /** Inject faults (crashes, torn writes, partitions, loss, duplication). @default true */
  readonly faults?: boolean;
  /** Membership changes and leader transfers during the run. @default true */
  readonly reconfigure?: boolean;
  /** Override core options for every node. */
  readonly config?: Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;
  /**
   * Break the driver on purpose to show the checks catch it: acknowledge before persisting
   * (votes and appends), so crashes lose acknowledged data.
   */
  readonly injectAckBeforePersist?: boolean;
  /** Break the read path on purpose: a node that believes it leads answers gets from its local state (no ReadIndex). */
  readonly injectLocalReads?: boolean;
  /** Receives a line per notable event (role changes, commits, faults) for debugging. */
  readonly trace?: (line: string) => void;
}

export interface SimulationStats {
  ticks: number;
  messages: number;
  dropped: number;
  duplicated: number;
  crashes: number;
  tornWrites: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsInstalled: number;
  compactions: number;
  pauses: number;
  leaders: number;
  maxTerm: number;
  opsOk: number;
  opsFail: number;
  opsInfo: number;
  stepErrors: Record<string, number>;
}

export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  /** What went wrong (null when ok). Replay with the same seed and options. */
  readonly failure: string | null;
  readonly stats: SimulationStats;
  readonly history: readonly KvOp[];
  /** The swarm parameters chosen for this seed. */
  readonly params: Readonly<Record<string, number | string | boolean>>;
}

class SimFailure extends Error {}

interface PendingOp {
  readonly client: number;
  readonly kind: KvOp['kind'];
  readonly key: string;
  readonly value: string | null;
  readonly expected: string | null;
  readonly call: number;
  readonly deadline: number;
  done: boolean;
}

interface SimNode {
  readonly id: NodeId;
  readonly mem: MemoryNode;
  readonly sm: KvStateMachine;
  up: boolean;
  downUntil: number;
  /** Paused (GC pause, stalled disk): no ticks, no processing; input waits until `pausedUntil`. */
  pausedUntil: number;
  missedTicks: number;
  /** Proposals accepted by this node: index -> (term, op). Lost on crash. */
  writes: Map<number, { term: number; op: PendingOp }>;
  reads: Map<string, PendingOp>;
  readWaits: { index: number; op: PendingOp }[];
}

const ACCEPTED_STEP_ERRORS = new Set(['removed-peer', 'unknown-peer']);

/**
 * Run one seeded, fully deterministic simulation of a Raft cluster serving a key-value
 * workload under faults, and check it: election safety, state-machine safety, linearizability
 * of the client history (WGL per key) and liveness after the faults heal.
 */
export function runSimulation(options: SimulationOptions): SimulationResult {
  const seed = options.seed;
  const rng = seededRandom(seed ^ 0x5eed);
  const r = (): number => rng();
  const ri = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[ri(xs.length)] as T;

  const faults = options.faults ?? true;
  const reconfigure = options.reconfigure ?? true;
  const nVoters = options.nodes ?? pick([3, 3, 5]);
  const faultTicks = options.faultTicks ?? 300;
  const settleTicks = options.settleTicks ?? 150;
  const nClients = options.clients ?? 4;
  const checkQuorum = r() < 0.8;
  const readOnly: 'lease-based' | 'safe' = checkQuorum && r() < 0.3 ? 'lease-based' : 'safe';
  const params = {
    nodes: nVoters,
    preVote: r() < 0.8,
    checkQuorum,
    readOnly,
    maxSizePerMsg: pick([64, 512, 1 << 20]),
    maxInflightMsgs: pick([1, 4, 256]),
    maxSnapshotChunkBytes: pick([16, 64, 4096]),
    snapshotChunkWindow: pick([1, 2, 4]),
    compactEvery: pick([0, 8, 25]),
    keep: pick([0, 3, 20]),
    dropRate: faults ? pick([0, 0.02, 0.1]) : 0,
    dupRate: faults ? pick([0, 0.02, 0.05]) : 0,
    maxDelay: pick([4, 15, 40]),
    crashRate: faults ? pick([0, 0.005, 0.02]) : 0,
    partitionRate: faults ? pick([0, 0.01, 0.03]) : 0,
    confRate: reconfigure ? pick([0, 0.01, 0.03]) : 0,
    transferRate: reconfigure ? pick([0, 0.005, 0.02]) : 0,
    clientTimeout: pick([12, 40]),
    pauseRate: faults ? pick([0, 0.005, 0.02]) : 0,
    electionTick: pick([6, 10, 20]),
    maxInflightBytes: pick([0, 300, 32 << 20]),
    maxUncommittedEntriesSize: pick([400, 64 << 20]),
  };
  const config: Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>> = {
    electionTick: params.electionTick,
    heartbeatTick: 2,
    maxInflightBytes: params.maxInflightBytes,
    maxUncommittedEntriesSize: params.maxUncommittedEntriesSize,
    preVote: params.preVote,
    checkQuorum: params.checkQuorum,
    readOnly: params.readOnly,
    maxSizePerMsg: params.maxSizePerMsg,
    maxInflightMsgs: params.maxInflightMsgs,
    maxSnapshotChunkBytes: params.maxSnapshotChunkBytes,
    snapshotChunkWindow: params.snapshotChunkWindow,
    ...options.config,
  };

  const stats: SimulationStats = {
    ticks: 0, messages: 0, dropped: 0, duplicated: 0, crashes: 0, tornWrites: 0, partitions: 0,
    confChanges: 0, transfers: 0, snapshotsInstalled: 0, compactions: 0, pauses: 0, leaders: 0, maxTerm: 0,
    opsOk: 0, opsFail: 0, opsInfo: 0, stepErrors: {},
  };
  const history: KvOp[] = [];
  const UNITS = 10; // time units per tick
  let now = 0; // in units
  let clock = 0; // total order of history events
  let nextId = nVoters + 1;
  const initial = Array.from({ length: nVoters }, (_, i) => `n${i + 1}`);
  const nodes = new Map<NodeId, SimNode>();
  const buckets = new Map<number, Message[]>();
  let group = new Map<NodeId, number>(); // partition groups; absent = group 0
  let healAt = -1;
  const leaderOfTerm = new Map<number, NodeId>();
  const appliedAt = new Map<number, string>();
  let nodeSeed = seed * 7919;

  const fail = (msg: string): never => {
    throw new SimFailure(msg);
  };

  const entryKey = (e: Entry): string => `${e.term}/${e.type}/${Buffer.from(e.data).toString('base64')}`;

  const makeNode = (id: NodeId, bootstrap: boolean): SimNode => {
    const sm = new KvStateMachine();
    const mem = new MemoryNode({ id, config, seed: nodeSeed++, stateMachine: sm, ...(bootstrap ? { bootstrap: initial } : {}) });
    mem.unsafeAckBeforePersist = options.injectAckBeforePersist ?? false;
    const n: SimNode = { id, mem, sm, up: true, downUntil: 0, pausedUntil: 0, missedTicks: 0, writes: new Map(), reads: new Map(), readWaits: [] };
    mem.onApply = (e) => {
      trace?.(`${now} ${id} apply ${e.index} t${e.term} ${e.type}`);
      const k = entryKey(e);
      const prev = appliedAt.get(e.index);
      if (prev === undefined) appliedAt.set(e.index, k);
      else if (prev !== k) fail(`state machine safety: ${id} applied ${k} at ${e.index}, another node applied ${prev}`);
      const w = n.writes.get(e.index);
      if (w !== undefined) {
        n.writes.delete(e.index);
        if (w.op.done) return;
        const cmd = sm.lastCommand;
        if (w.term === e.term && cmd !== null && e.type === 'normal') {
          complete(w.op, sm.lastResult ? 'ok' : 'fail', w.op.value);
        } else {
          w.op.done = true; // overwritten: it can never commit, no effect
          clients[w.op.client] = null;
        }
      }
    };
    mem.onSnapshot = () => {
      stats.snapshotsInstalled++;
    };
    mem.onReadState = (rs) => {
      const op = n.reads.get(rs.context);
      if (op === undefined) return;
      n.reads.delete(rs.context);
      n.readWaits.push({ index: rs.index, op });
    };
    nodes.set(id, n);
    return n;
  };

  const clients: (PendingOp | null)[] = Array.from({ length: nClients }, () => null);
  const clientTarget: (NodeId | null)[] = Array.from({ length: nClients }, () => null);
  let opSeq = 0;

  const complete = (op: PendingOp, status: 'ok' | 'fail', value: string | null): void => {
    if (op.done) return;
    op.done = true;
    const ret = ++clock;
    const base = { kind: op.kind, key: op.key, value, call: op.call, ret, status };
    history.push(op.kind === 'cas' ? { ...base, expected: op.expected } : base);
    if (status === 'ok') stats.opsOk++;
    else stats.opsFail++;
    clients[op.client] = null;
  };

  // Messages whose term (and, for granted votes, vote) must already be durable when sent.
  const DURABLE_TERM = new Set<Message['type']>(['vote', 'vote-resp', 'app', 'app-resp', 'heartbeat', 'heartbeat-resp', 'snap', 'snap-resp', 'timeout-now']);
  const send = (m: Message): void => {
    stats.messages++;
    const from = nodes.get(m.from);
    if (from !== undefined && DURABLE_TERM.has(m.type) && !options.injectAckBeforePersist) {
      const hs = from.mem.disk.hardState;
      if (m.term > hs.term) fail(`persist before send: ${m.from} sent ${m.type} in term ${m.term} with term ${hs.term} on disk`);
      if (m.type === 'app-resp' && !m.reject && m.index > from.mem.disk.lastIndex()) {
        fail(`persist before send: ${m.from} acknowledged index ${m.index} with ${from.mem.disk.lastIndex()} on disk`);
      }
      if (m.type === 'vote-resp' && !m.reject && hs.vote !== m.to) {
        fail(`persist before send: ${m.from} granted its vote to ${m.to} with vote ${String(hs.vote)} on disk`);
      }
    }
    if (params.dropRate > 0 && r() < params.dropRate) {
      stats.dropped++;
      return;
    }
    const copies = params.dupRate > 0 && r() < params.dupRate ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const at = now + 1 + ri(params.maxDelay);
      let b = buckets.get(at);
      if (b === undefined) buckets.set(at, (b = []));
      b.push(m);
    }
  };

  const serveReads = (n: SimNode): void => {
    if (n.readWaits.length === 0) return;
    const applied = n.mem.raw.appliedIndex;
    const rest: { index: number; op: PendingOp }[] = [];
    for (const w of n.readWaits) {
      if (w.index <= applied) complete(w.op, 'ok', n.sm.get(w.op.key));
      else rest.push(w);
    }
    n.readWaits = rest;
  };

  const trace = options.trace;
  const lastSeen = new Map<NodeId, string>();
  const process = (n: SimNode): void => {
    if (crashing && params.crashRate > 0 && n.up && r() < params.crashRate / 8 && n.mem.raw.hasReady()) {
      crash(n); // crash in the middle of handling a Ready: a torn write
      return;
    }
    n.mem.process(send);
    if (trace !== undefined) {
      const raw0 = n.mem.raw;
      const st = `${raw0.role} t${raw0.term} lead=${String(raw0.leader)} commit=${raw0.commitIndex} last=${raw0.lastIndex} voters=${raw0.confState.voters.join(',')}|${raw0.confState.votersOutgoing.join(',')}`;
      if (lastSeen.get(n.id) !== st) {
        lastSeen.set(n.id, st);
        trace(`${now} ${n.id} ${st}`);
      }
    }
    serveReads(n);
    const raw = n.mem.raw;
    if (raw.role === 'leader') {
      const prev = leaderOfTerm.get(raw.term);
      if (prev === undefined) {
        leaderOfTerm.set(raw.term, n.id);
        stats.leaders++;
      } else if (prev !== n.id) fail(`election safety: ${prev} and ${n.id} both leaders of term ${raw.term}`);
    }
    if (raw.term > stats.maxTerm) stats.maxTerm = raw.term;
  };

  const crash = (n: SimNode): void => {
    stats.crashes++;
    trace?.(`${now} ${n.id} CRASH`);
    if (n.mem.raw.hasReady()) {
      stats.tornWrites++;
      n.mem.process(send, { keepEntries: ri(4), keepHardState: r() < 0.5 });
    }
    n.up = false;
    n.downUntil = now + (10 + ri(60)) * UNITS;
    n.writes.clear();
    n.reads.clear();
    n.readWaits = [];
  };

  const restart = (n: SimNode): void => {
    trace?.(`${now} ${n.id} RESTART`);
    n.pausedUntil = 0;
    n.missedTicks = 0;
    n.mem.restart();
    n.up = true;
    process(n);
  };

  const reachable = (a: NodeId, b: NodeId): boolean => (group.get(a) ?? 0) === (group.get(b) ?? 0);

  const deliver = (): void => {
    const b = buckets.get(now);
    if (b === undefined) return;
    buckets.delete(now);
    for (const m of b) {
      const n = nodes.get(m.to);
      if (n === undefined || !n.up || !reachable(m.from, m.to)) {
        stats.dropped++;
        continue;
      }
      if (n.pausedUntil > now || n.missedTicks > 0) {
        // Held in the socket buffer until the node resumes (and has caught up its ticks).
        const at = Math.max(n.pausedUntil, now) + 1 + ri(UNITS);
        let q = buckets.get(at);
        if (q === undefined) buckets.set(at, (q = []));
        q.push(m);
        continue;
      }
      try {
        n.mem.raw.step(m);
      } catch (e) {
        const code = isRaftError(e) ? e.code : 'exception';
        stats.stepErrors[code] = (stats.stepErrors[code] ?? 0) + 1;
        if (!ACCEPTED_STEP_ERRORS.has(code)) fail(`step ${m.type} ${m.from}->${m.to} threw ${code}: ${(e as Error).message}`);
      }
      process(n);
    }
  };

  const currentLeader = (): SimNode | null => {
    let best: SimNode | null = null;
    for (const n of nodes.values()) {
      if (n.up && n.pausedUntil <= now && n.missedTicks === 0 && n.mem.raw.role === 'leader' && (best === null || n.mem.raw.term > best.mem.raw.term)) best = n;
    }
    return best;
  };

  const isDown = (n: SimNode): boolean => !n.up;
  const upNodes = (): SimNode[] => [...nodes.values()].filter((n) => n.up);

  const issue = (c: number): void => {
    const live = upNodes();
    if (live.length === 0) return;
    let target = clientTarget[c] ?? null;
    let n = target === null ? undefined : nodes.get(target);
    if (n === undefined || !n.up) n = pick(live);
    if (n.pausedUntil > now || n.missedTicks > 0) return; // not answering: try again later
    target = n.id;
    const raw = n.mem.raw;
    const key = pick(['a', 'b', 'c']);
    const roll = r();
    const kind: KvOp['kind'] = roll < 0.4 ? 'get' : roll < 0.75 ? 'put' : 'cas';
    const value = kind === 'get' ? null : `${c}.${++opSeq}`;
    let expected: string | null = null;
    if (kind === 'cas') {
      const cur = n.sm.get(key);
      expected = r() < 0.7 ? cur : null;
    }
    const op: PendingOp = { client: c, kind, key, value, expected, call: 0, deadline: now + params.clientTimeout * UNITS, done: false };
    try {
      if (kind === 'get' && options.injectLocalReads === true && raw.role === 'leader') {
        (op as { call: number }).call = ++clock;
        clients[c] = op;
        complete(op, 'ok', n.sm.get(key));
        return;
      }
      if (kind === 'get') {
        const ctx = `c${c}.${opSeq}.${++opSeq}`;
        (op as { call: number }).call = ++clock;
        raw.readIndex(ctx);
        n.reads.set(ctx, op);
      } else {
        if (raw.role !== 'leader') {
          clientTarget[c] = raw.leader ?? pick(live).id;
          return;
        }
        const cmd: KvCommand =
          kind === 'put'
            ? { op: 'put', id: `${c}.${opSeq}`, key, value: value as string }
            : { op: 'cas', id: `${c}.${opSeq}`, key, expected, value: value as string };
        (op as { call: number }).call = ++clock;
        const idx = raw.propose(encodeKvCommand(cmd));
        n.writes.set(idx, { term: raw.term, op });
      }
    } catch (e) {
      if (!isRaftError(e)) throw e;
      clientTarget[c] = (e as { leader?: string | null }).leader ?? pick(live).id;
      return; // refused before taking effect: not part of the history
    }
    clientTarget[c] = target;
    clients[c] = op;
    process(n);
  };

  const timeouts = (): void => {
    for (let c = 0; c < nClients; c++) {
      const op = clients[c];
      if (op === null || op === undefined) continue;
      if (op.done) {
        clients[c] = null;
        continue;
      }
      if (now >= op.deadline) {
        op.done = true;
        const base = { kind: op.kind, key: op.key, value: op.value, call: op.call, ret: Infinity, status: 'info' as const };
        history.push(op.kind === 'cas' ? { ...base, expected: op.expected } : base);
        stats.opsInfo++;
        clients[c] = null;
        clientTarget[c] = null;
      }
    }
  };

  const reconfig = (): void => {
    const l = currentLeader();
    if (l === null) return;
    const raw = l.mem.raw;
    const conf = raw.confState;
    try {
      const caughtUp = conf.learners.filter((id) => raw.isCaughtUp(id));
      if (caughtUp.length > 0 && conf.votersOutgoing.length === 0) {
        const learner = caughtUp[0] as NodeId;
        if (r() < 0.5 && conf.voters.length >= 3) {
          // Replace a voter by the learner in one joint change.
          const out = pick(conf.voters.filter((v) => v !== learner));
          raw.proposeConfChange({ changes: [{ type: 'add-voter', id: learner }, { type: 'remove', id: out }] });
        } else {
          raw.addVoter(learner);
        }
      } else if (conf.voters.length > 3 && r() < 0.6) {
        raw.removeNode(pick(conf.voters));
      } else if (conf.learners.length === 0 && conf.voters.length < 6) {
        const id = `n${nextId++}`;
        makeNode(id, false);
        raw.addLearner(id);
      } else {
        return;
      }
      stats.confChanges++;
    } catch (e) {
      if (!isRaftError(e)) throw e;
    }
    process(l);
  };

  const transfer = (): void => {
    const l = currentLeader();
    if (l === null) return;
    const voters = l.mem.raw.confState.voters.filter((v) => v !== l.id);
    if (voters.length === 0) return;
    try {
      l.mem.raw.transferLeader(pick(voters));
      stats.transfers++;
    } catch (e) {
      if (!isRaftError(e)) throw e;
    }
    process(l);
  };

  const tick = (faultPhase: boolean): void => {
    stats.ticks++;
    for (const n of nodes.values()) {
      if (!n.up) {
        if (!faultPhase || now >= n.downUntil) restart(n);
        continue;
      }
      if (n.pausedUntil > now) {
        n.missedTicks++;
        continue;
      }
      if (n.missedTicks > 0) {
        // Resuming from a pause: a correct driver derives ticks from a monotonic clock, so the
        // ticks missed during the pause are delivered before any queued input.
        stats.pauses++;
        trace?.(`${now} ${n.id} RESUME after ${n.missedTicks} ticks`);
        for (; n.missedTicks > 0; n.missedTicks--) n.mem.raw.tick();
        process(n);
        if (isDown(n)) continue; // crashed while catching up
      }
      n.mem.raw.tick();
      if (params.compactEvery > 0) {
        const raw = n.mem.raw;
        if (raw.appliedIndex - n.mem.disk.snapshot().meta.index >= params.compactEvery) {
          n.mem.compact(params.keep);
          stats.compactions++;
        }
      }
      process(n);
    }
    if (faultPhase) {
      if (healAt >= 0 && now >= healAt) {
        group = new Map();
        healAt = -1;
      }
      if (r() < params.crashRate) {
        const live = upNodes();
        if (live.length > 0) crash(pick(live));
      }
      if (r() < params.pauseRate) {
        // Pause a node (often the leader) for up to three election timeouts.
        const l = currentLeader();
        const live = upNodes();
        const victim = l !== null && r() < 0.6 ? l : live.length > 0 ? pick(live) : null;
        if (victim !== null && victim.pausedUntil <= now) {
          victim.pausedUntil = now + (1 + ri(3 * params.electionTick)) * UNITS;
          trace?.(`${now} ${victim.id} PAUSE until ${victim.pausedUntil}`);
        }
      }
      if (healAt < 0 && r() < params.partitionRate) {
        stats.partitions++;
        group = new Map();
        const l = currentLeader();
        if (l !== null && r() < 0.5) {
          // Isolate the leader; half of the clients move to the majority side (and may find
          // the new leader while others still talk to the old one).
          group.set(l.id, 1);
          const others = [...nodes.keys()].filter((id) => id !== l.id);
          for (let c = 0; c < nClients; c++) if (r() < 0.5) clientTarget[c] = pick(others);
        } else for (const id of nodes.keys()) group.set(id, ri(2));
        healAt = now + (10 + ri(80)) * UNITS;
        trace?.(`${now} PARTITION ${JSON.stringify([...group])}`);
      }
      if (r() < params.confRate) reconfig();
      if (r() < params.transferRate) transfer();
    }
    for (let c = 0; c < nClients; c++) if (clients[c] === null && r() < 0.5) issue(c);
    timeouts();
  };

  let failure: string | null = null;
  let okBeforeSettle = 0;
  let crashing = false;
  try {
    for (const id of initial) makeNode(id, true);
    const total = (faultTicks + settleTicks) * UNITS;
    // After `settleTicks`, keep going (up to 2000 more ticks) until a client operation has
    // completed and a leader exists: slow configurations (long timeouts, tiny windows, split
    // votes after a reconfiguration) may need longer to recover.
    const hardLimit = total + 2000 * UNITS;
    const settled = (): boolean => stats.opsOk > okBeforeSettle && currentLeader() !== null;
    for (; now < total || (now < hardLimit && (now % UNITS !== 0 || !settled())); now++) {
      const faultPhase = now < faultTicks * UNITS;
      crashing = faultPhase;
      if (!faultPhase && now === faultTicks * UNITS) {
        group = new Map();
        healAt = -1;
        buckets.clear();
        params.dropRate = 0;
        params.dupRate = 0;
        okBeforeSettle = stats.opsOk;
      }
      deliver();
      if (now % UNITS === 0) tick(faultPhase);
    }
    // Liveness: after healing, a leader exists and has committed an entry of its term.
    const l = currentLeader();
    if (l === null) fail('liveness: no leader after the faults healed');
    else if (stats.opsOk === okBeforeSettle) fail('liveness: no client operation completed after the faults healed');
    for (const op of clients) {
      if (op === null || op.done) continue;
      op.done = true;
      const base = { kind: op.kind, key: op.key, value: op.value, call: op.call, ret: Infinity, status: 'info' as const };
      history.push(op.kind === 'cas' ? { ...base, expected: op.expected } : base);
      stats.opsInfo++;
    }
    const lin = checkKvHistory(history);
    if (!lin.ok) fail(`linearizability: key ${String(lin.key)} ${String(lin.reason)} (${lin.ops} ops)`);
  } catch (e) {
    if (e instanceof SimFailure) failure = e.message;
    else failure = `exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  }
  return { seed, ok: failure === null, failure, stats, history, params };
}
