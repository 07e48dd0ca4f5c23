import type { PoolFactory } from '../src/index.js';

export interface Res {
  readonly id: number;
  destroyed: boolean;
  healthy: boolean;
}

/**
 * A factory whose creates succeed at once unless told otherwise: `failNext` makes the next
 * creates reject, `hangNext` makes them never settle (until `releaseHung`).
 */
export class FakeFactory implements PoolFactory<Res> {
  seq = 0;
  readonly live = new Set<Res>();
  readonly all: Res[] = [];
  failNext = 0;
  hangNext = 0;
  private readonly hung: ((r: Res) => void)[] = [];
  validateCalls = 0;
  /** When set, validate answers after this many ms of the given scheduler (out-of-order completions). */
  validateDelay: ((r: Res) => number) | undefined;
  scheduler: { setTimeout(fn: () => void, ms: number): unknown } | undefined;

  create(_signal: AbortSignal): Promise<Res> {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('boom'));
    }
    const r: Res = { id: ++this.seq, destroyed: false, healthy: true };
    if (this.hangNext > 0) {
      this.hangNext--;
      return new Promise((resolve) => {
        this.hung.push(() => {
          this.all.push(r);
          this.live.add(r);
          resolve(r);
        });
      });
    }
    this.all.push(r);
    this.live.add(r);
    return Promise.resolve(r);
  }

  destroy(r: Res): void {
    if (r.destroyed) throw new Error(`double destroy of ${r.id}`);
    r.destroyed = true;
    this.live.delete(r);
  }

  validate(r: Res): boolean | Promise<boolean> {
    this.validateCalls++;
    const delay = this.validateDelay?.(r);
    if (delay === undefined || this.scheduler === undefined) return r.healthy;
    const sched = this.scheduler;
    return new Promise((resolve) => {
      sched.setTimeout(() => {
        resolve(r.healthy);
      }, delay);
    });
  }

  /** Lets every hung create resolve now. */
  releaseHung(): void {
    for (const f of this.hung.splice(0)) f({ id: 0, destroyed: false, healthy: true });
  }
}
