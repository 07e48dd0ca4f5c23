/**
 * A Wing–Gong–Lowe (WGL) linearizability checker with memoisation (as in porcupine / knossos'
 * "linear" search), plus a per-key register model for get / put / cas histories.
 *
 * An operation that never returned (crashed client, timeout) has `ret = Infinity`: it may have
 * taken effect at any point after its call, or not at all.
 */

/** A sequential specification. `step` returns the next state, or `undefined` if the operation
 * cannot be linearized in `state`. States must have a stable `key()` for memoisation. */
export interface Model<S, O> {
  readonly init: S;
  step(state: S, op: O): S | undefined;
  key(state: S): string;
}

export interface TimedOp<O> {
  readonly op: O;
  /** Invocation time. */
  readonly call: number;
  /** Completion time; `Infinity` when unknown. Must be > call. */
  readonly ret: number;
}

export type CheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not-linearizable' | 'too-complex'; readonly ops: number };

interface Node {
  id: number; // op index
  isCall: boolean;
  time: number;
  match: Node | null; // call -> its return
  prev: Node | null;
  next: Node | null;
}

/**
 * Check one history against `model`. `maxSteps` bounds the search (the result is then
 * `too-complex`, which callers should treat as a failure to prove, not as a violation).
 */
export function checkLinearizable<S, O>(history: readonly TimedOp<O>[], model: Model<S, O>, maxSteps = 5_000_000): CheckResult {
  const n = history.length;
  if (n === 0) return { ok: true };
  const events: Node[] = [];
  for (let i = 0; i < n; i++) {
    const h = history[i] as TimedOp<O>;
    const call: Node = { id: i, isCall: true, time: h.call, match: null, prev: null, next: null };
    const ret: Node = { id: i, isCall: false, time: h.ret, match: null, prev: null, next: null };
    call.match = ret;
    events.push(call, ret);
  }
  // Order by time; at equal times calls go first (treat touching operations as concurrent).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Node = { id: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let p = head;
  for (const e of events) {
    p.next = e;
    e.prev = p;
    p = e;
  }
  const lift = (c: Node): void => {
    (c.prev as Node).next = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    const r = c.match as Node;
    (r.prev as Node).next = r.next;
    if (r.next !== null) r.next.prev = r.prev;
  };
  const unlift = (c: Node): void => {
    const r = c.match as Node;
    (r.prev as Node).next = r;
    if (r.next !== null) r.next.prev = r;
    (c.prev as Node).next = c;
    if (c.next !== null) c.next.prev = c;
  };
  const words = Math.ceil(n / 32);
  const lin = new Uint32Array(words);
  const linKey = (): string => {
    let s = '';
    for (let i = 0; i < words; i++) s += (lin[i] as number).toString(36) + ',';
    return s;
  };
  const cache = new Set<string>();
  const stack: { node: Node; state: S }[] = [];
  let state = model.init;
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > maxSteps) return { ok: false, reason: 'too-complex', ops: n };
    if (entry === null) return { ok: false, reason: 'not-linearizable', ops: n }; // cannot happen
    if (entry.isCall) {
      const next = model.step(state, (history[entry.id] as TimedOp<O>).op);
      if (next !== undefined) {
        const w = entry.id >> 5;
        const bit = 1 << (entry.id & 31);
        lin[w] = (lin[w] as number) | bit;
        const key = linKey() + '|' + model.key(next);
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        lin[w] = (lin[w]) & ~bit;
      }
      entry = entry.next;
    } else {
      // A return whose call could not be linearized before it: backtrack.
      const top = stack.pop();
      if (top === undefined) return { ok: false, reason: 'not-linearizable', ops: n };
      const w = top.node.id >> 5;
      lin[w] = (lin[w] as number) & ~(1 << (top.node.id & 31));
      state = top.state;
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true };
}

// ------------------------------------------------------------------ key-value register

/** One client operation on a key-value store (`null` = key absent). */
export interface KvOp {
  readonly kind: 'get' | 'put' | 'cas';
  readonly key: string;
  /** get: the value read; put: the value written; cas: the new value. */
  readonly value: string | null;
  /** cas: the expected current value. */
  readonly expected?: string | null;
  readonly call: number;
  /** Completion time, `Infinity` when the outcome is unknown. */
  readonly ret: number;
  /** ok: completed; fail: definitely did not take effect; info: unknown outcome. */
  readonly status: 'ok' | 'fail' | 'info';
}

interface RegOp {
  readonly kind: 'get' | 'put' | 'cas-ok' | 'cas-fail' | 'cas-info';
  readonly value: string | null;
  readonly expected: string | null;
}

const registerModel: Model<string | null, RegOp> = {
  init: null,
  step(s, op) {
    switch (op.kind) {
      case 'get':
        return s === op.value ? s : undefined;
      case 'put':
        return op.value;
      case 'cas-ok':
        return s === op.expected ? op.value : undefined;
      case 'cas-fail':
        return s !== op.expected ? s : undefined;
      case 'cas-info':
        // It took effect if its precondition held (linearizing it last models "never happened").
        return s === op.expected ? op.value : s;
    }
  },
  key(s) {
    return s === null ? '\u0000' : s;
  },
};

export interface KvCheckResult {
  readonly ok: boolean;
  /** First key whose history is not linearizable (or too complex to check). */
  readonly key?: string;
  readonly reason?: 'not-linearizable' | 'too-complex';
  readonly keys: number;
  readonly ops: number;
}

/**
 * Check a get/put/cas history, one key at a time (linearizability is compositional, so per-key
 * checking is exact). Failed puts and failed or unknown gets are dropped (no effect).
 */
export function checkKvHistory(history: readonly KvOp[], maxStepsPerKey?: number): KvCheckResult {
  const byKey = new Map<string, TimedOp<RegOp>[]>();
  let ops = 0;
  for (const h of history) {
    if (h.status === 'fail' && h.kind !== 'cas') continue;
    if (h.status === 'info' && h.kind === 'get') continue;
    let kind: RegOp['kind'];
    if (h.kind === 'cas') kind = h.status === 'ok' ? 'cas-ok' : h.status === 'fail' ? 'cas-fail' : 'cas-info';
    else kind = h.kind;
    const ret = h.status === 'info' ? Infinity : h.ret;
    let list = byKey.get(h.key);
    if (list === undefined) byKey.set(h.key, (list = []));
    list.push({ op: { kind, value: h.value, expected: h.expected ?? null }, call: h.call, ret });
    ops++;
  }
  for (const [key, list] of byKey) {
    let r = checkLinearizable(list, registerModel, maxStepsPerKey);
    if (!r.ok && r.reason === 'too-complex') {
      // Unknown-outcome writes are what make the search explode. Dropping those whose value
      // nobody observed is sound in one direction: a linearization of the rest extends to the
      // full history by placing them last (they never returned, so "last" is always allowed).
      const observed = new Set<string | null>();
      for (const t of list) {
        if (t.op.kind === 'get') observed.add(t.op.value);
        if (t.op.kind === 'cas-ok' || t.op.kind === 'cas-fail' || t.op.kind === 'cas-info') observed.add(t.op.expected);
      }
      const pruned = list.filter((t) => !(t.ret === Infinity && t.op.kind !== 'get' && !observed.has(t.op.value)));
      if (pruned.length < list.length) {
        const p = checkLinearizable(pruned, registerModel, maxStepsPerKey);
        if (p.ok) r = p;
      }
    }
    if (!r.ok) return { ok: false, key, reason: r.reason, keys: byKey.size, ops };
  }
  return { ok: true, keys: byKey.size, ops };
}
