/**
 * Child-process plumbing shared by the multi-process harnesses (`tcp-procs.ts`, `harness.ts`):
 * readiness waits that end on the first of (ready, exit, timeout), termination that never waits
 * for an `exit` event that already fired, and a reaper so children never outlive the test process.
 */
import type { ChildProcess } from 'node:child_process';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const exits = new WeakMap<ChildProcess, Promise<Exit>>();

/**
 * Registers `child` right after spawn: its end is recorded (never missed) and it is reaped if we
 * exit. The end is the 'close' event (exit + stdio closed), so its stderr is complete by then.
 */
export function track(child: ChildProcess): Promise<Exit> {
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => { resolve({ code, signal }); });
  });
  exits.set(child, exited);
  reapOnExit(child);
  return exited;
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function describeExit(e: Exit): string {
  return e.signal !== null ? `killed by ${e.signal}` : `exited with code ${String(e.code)}`;
}

/**
 * SIGKILL and wait for the exit, at most `waitMs` (an exit that already happened returns at once;
 * a child that somehow does not report its exit in time is left to the reaper).
 */
export async function terminate(child: ChildProcess, waitMs = 10_000): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGKILL');
  const exited = exits.get(child) ?? new Promise<Exit>((r) => child.once('close', (code: number | null, signal: NodeJS.Signals | null) => { r({ code, signal }); }));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => { timer = setTimeout(r, waitMs); })]);
  clearTimeout(timer);
}

/** Resolves with the first of: `ready` settling, the child exiting, `timeoutMs` passing. */
export async function firstOf<T>(
  child: ChildProcess,
  ready: Promise<T>,
  timeoutMs: number,
): Promise<{ kind: 'ready'; value: T } | { kind: 'exit'; exit: Exit } | { kind: 'timeout' }> {
  const exited = exits.get(child);
  if (exited === undefined) throw new Error('child not tracked');
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      ready.then((value) => ({ kind: 'ready' as const, value })),
      exited.then((exit) => ({ kind: 'exit' as const, exit })),
      new Promise<{ kind: 'timeout' }>((r) => { timer = setTimeout(() => { r({ kind: 'timeout' }); }, timeoutMs); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A counter that can be awaited: `until(n)` resolves once it reaches n (bounded by `timeoutMs`). */
export class Progress {
  #count = 0;
  readonly #waiters = new Set<{ target: number; resolve: () => void }>();

  get count(): number {
    return this.#count;
  }

  add(): void {
    this.#count++;
    for (const w of this.#waiters) if (this.#count >= w.target) w.resolve();
  }

  /** Waits until `more` further increments happened; throws after `timeoutMs` without them. */
  async more(more: number, timeoutMs: number, what: string): Promise<void> {
    const target = this.#count + more;
    if (this.#count >= target) return;
    let timer: NodeJS.Timeout | undefined;
    let waiter: { target: number; resolve: () => void } | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        waiter = { target, resolve };
        this.#waiters.add(waiter);
        timer = setTimeout(() => { reject(new Error(`no progress for ${timeoutMs} ms: ${what} (${this.#count}/${target})`)); }, timeoutMs);
      });
    } finally {
      clearTimeout(timer);
      if (waiter !== undefined) this.#waiters.delete(waiter);
    }
  }
}

const live = new Set<ChildProcess>();
let reaper = false;
/** Children must not outlive a test/bench process that crashes or is interrupted. */
function reapOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (reaper) return;
  reaper = true;
  process.once('exit', () => {
    for (const c of live) if (!hasExited(c)) c.kill('SIGKILL');
  });
}
