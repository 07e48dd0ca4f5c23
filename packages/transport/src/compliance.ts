/**
 * `@abi/transport/compliance`: the contract tests every {@link Transport} must pass (TCP, memory,
 * and wrappers such as `@abi/link`'s secure transport). Call it from a vitest test file:
 *
 * ```ts
 * import { transportCompliance } from '@abi/transport/compliance';
 * transportCompliance('tcp', async () => {
 *   const a = new TcpTransport(); const b = new TcpTransport();
 *   return { a, b, address: '127.0.0.1:0', close: async () => { await a.close(); await b.close(); } };
 * });
 * ```
 *
 * The factory returns two transports that can reach each other, the address `b` listens on, and
 * a `close` that releases everything. Handlers are registered by the suite on `a` and `b`.
 */
/* eslint-disable @typescript-eslint/require-await -- async handlers and generators without awaits are what this suite exercises */
import { afterEach, describe, expect, it } from 'vitest';
import { isTransportError, RpcError } from './errors.js';
import type { Connection, Transport } from './types.js';

export interface ComplianceFixture {
  /** The dialing side. */
  readonly a: Transport;
  /** The listening side. */
  readonly b: Transport;
  /** Address for `b.listen` (for example `127.0.0.1:0`). */
  readonly address: string;
  /** Releases both transports and anything else the factory made. */
  readonly close: () => Promise<void>;
}

export type ComplianceFactory = () => Promise<ComplianceFixture>;

interface Pair {
  fx: ComplianceFixture;
  client: Connection;
  server: Promise<Connection>;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function until(cond: () => boolean, what: string, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await nextTurn();
    if (i > 200) await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`condition never held: ${what}`);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isTransportError(e)) return e.code;
    throw e;
  }
  return 'resolved';
}

/** Registers the compliance suite for one transport implementation. */
export function transportCompliance(name: string, factory: ComplianceFactory): void {
  describe(`transport compliance: ${name}`, () => {
    const open: ComplianceFixture[] = [];
    afterEach(async () => {
      for (const fx of open.splice(0)) await fx.close();
    });

    async function pair(register?: (fx: ComplianceFixture) => void): Promise<Pair> {
      const fx = await factory();
      open.push(fx);
      register?.(fx);
      let resolveServer!: (c: Connection) => void;
      const server = new Promise<Connection>((resolve) => (resolveServer = resolve));
      fx.b.onConnection((c) => {
        resolveServer(c);
      });
      const listener = await fx.b.listen(fx.address);
      const client = await fx.a.dial(listener.address, { signal: AbortSignal.timeout(10_000) });
      return { fx, client, server };
    }

    it('dial - both sides see an open connection with addresses', async () => {
      const { client, server } = await pair();
      const s = await server;
      expect(client.state).toBe('open');
      expect(s.state).toBe('open');
      expect(client.initiator).toBe(true);
      expect(s.initiator).toBe(false);
      expect(typeof client.remoteAddress).toBe('string');
      expect(typeof s.remoteAddress).toBe('string');
    });

    it('request - a CBOR object round-trips through a handler', async () => {
      const { client } = await pair(({ b }) => b.handle('echo', (p) => p));
      const value = { id: 7, name: 'x', list: [1, 2, 3], nested: { ok: true }, f: 1.5 };
      expect(await client.request('echo', value)).toEqual(value);
      expect(await client.request('echo')).toBeUndefined();
      expect(await client.request('echo', null)).toBeNull();
    });

    it('request - raw bytes arrive as bytes', async () => {
      const { client } = await pair(({ b }) => b.handle('len', (p) => (p instanceof Uint8Array ? p.length : -1)));
      expect(await client.request('len', new Uint8Array(1000).fill(7))).toBe(1000);
      const { client: c2 } = await pair(({ b }) => b.handle('bytes', () => new Uint8Array([1, 2, 3])));
      expect(Array.from(await c2.request<Uint8Array>('bytes'))).toEqual([1, 2, 3]);
    });

    it('request - a 1 MiB payload round-trips', async () => {
      const { client } = await pair(({ b }) => b.handle('echo', (p) => p));
      const big = new Uint8Array(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
      const back = await client.request<Uint8Array>('echo', big);
      expect(back.length).toBe(big.length);
      expect(back[12345]).toBe(12345 & 0xff);
    });

    it('request - the context names method, kind and connection', async () => {
      const { client, server } = await pair(({ b }) =>
        b.handle('ctx', (_p, ctx) => ({ method: ctx.method, kind: ctx.kind, aborted: ctx.signal.aborted, hasDeadline: ctx.deadline !== undefined })),
      );
      expect(await client.request('ctx', 1, { deadlineMs: 60_000 })).toEqual({ method: 'ctx', kind: 'unary', aborted: false, hasDeadline: true });
      expect((await server).state).toBe('open');
    });

    it('request - calls run both ways over one connection', async () => {
      const { client, server } = await pair(({ a, b }) => {
        a.handle('who', () => 'a');
        b.handle('who', () => 'b');
      });
      expect(await client.request('who')).toBe('b');
      expect(await (await server).request('who')).toBe('a');
    });

    it('request - 2000 concurrent calls all complete', async () => {
      const { client } = await pair(({ b }) => b.handle('inc', async (p) => (p as number) + 1));
      const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.request('inc', i)));
      expect(results.every((r, i) => r === i + 1)).toBe(true);
    });

    it('send - one-way messages reach the handler in order', async () => {
      const got: unknown[] = [];
      const { client } = await pair(({ b }) =>
        b.handle('note', (p, ctx) => {
          expect(ctx.kind).toBe('message');
          got.push(p);
        }),
      );
      for (let i = 0; i < 100; i++) await client.send('note', i);
      await until(() => got.length === 100, 'all messages delivered');
      expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    });

    it('errors - unknown method is UNIMPLEMENTED', async () => {
      const { client } = await pair();
      const err = await client.request('nope').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcError);
      expect((err as RpcError).code).toBe('REMOTE_ERROR');
      expect((err as RpcError).status).toBe('UNIMPLEMENTED');
    });

    it('errors - a thrown RpcError keeps status, message and details; other throws are INTERNAL', async () => {
      const { client } = await pair(({ b }) => {
        b.handle('missing', () => {
          throw new RpcError('NOT_FOUND', 'no such key', { details: { key: 'k' } });
        });
        b.handle('boom', async () => {
          throw new Error('kaboom');
        });
      });
      const e1 = (await client.request('missing').catch((e: unknown) => e)) as RpcError;
      expect([e1.code, e1.status, e1.message, e1.details]).toEqual(['REMOTE_ERROR', 'NOT_FOUND', 'no such key', { key: 'k' }]);
      const e2 = (await client.request('boom').catch((e: unknown) => e)) as RpcError;
      expect([e2.code, e2.status, e2.message]).toEqual(['REMOTE_ERROR', 'INTERNAL', 'kaboom']);
    });

    it('deadline - the caller gets DEADLINE_EXCEEDED and the handler signal fires', async () => {
      let handlerAborted: unknown;
      const { client } = await pair(({ b }) =>
        b.handle('hang', (_p, ctx) => {
          return new Promise((resolve) => {
            ctx.signal.addEventListener('abort', () => {
              handlerAborted = ctx.signal.reason;
              resolve('late');
            });
          });
        }),
      );
      expect(await codeOf(client.request('hang', 1, { deadlineMs: 30 }))).toBe('DEADLINE_EXCEEDED');
      await until(() => handlerAborted !== undefined, 'handler aborted');
      expect(isTransportError(handlerAborted)).toBe(true);
    });

    it('cancel - aborting the signal rejects ABORTED and cancels the handler', async () => {
      let cancelled = false;
      let started = false;
      const { client } = await pair(({ b }) =>
        b.handle('hang', (_p, ctx) => {
          started = true;
          return new Promise((resolve) => {
            ctx.signal.addEventListener('abort', () => {
              cancelled = true;
              resolve(0);
            });
          });
        }),
      );
      const ac = new AbortController();
      const p = client.request('hang', 1, { signal: ac.signal });
      await until(() => started, 'handler started');
      ac.abort();
      expect(await codeOf(p)).toBe('ABORTED');
      await until(() => cancelled, 'cancel frame reached the handler');
    });

    it('cancel - an already aborted signal rejects at once', async () => {
      let calls = 0;
      const { client } = await pair(({ b }) => b.handle('x', () => ++calls));
      const ac = new AbortController();
      ac.abort();
      await expect(client.request('x', 1, { signal: ac.signal })).rejects.toThrow();
      expect(await client.request('x')).toBe(1);
    });

    it('server stream - items arrive in order and end', async () => {
      const { client } = await pair(({ b }) =>
        b.handle('count', async function* (p) {
          for (let i = 0; i < (p as number); i++) yield i;
        }),
      );
      const got: unknown[] = [];
      for await (const x of client.stream('count', 300)) got.push(x);
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
    });

    it('server stream - a slow consumer bounds the producer (credit flow control)', async () => {
      let produced = 0;
      const { client } = await pair(({ b }) =>
        b.handle('forever', function* () {
          for (;;) yield produced++;
        }),
      );
      const it = client.stream('forever')[Symbol.asyncIterator]();
      for (let i = 0; i < 5; i++) await it.next();
      for (let i = 0; i < 200; i++) await nextTurn();
      // The producer may run at most one credit window (≤ 1024 by hello limits) ahead.
      expect(produced).toBeLessThan(1100);
      const before = produced;
      for (let i = 0; i < 200; i++) await nextTurn();
      expect(produced).toBe(before);
      await it.return?.();
    });

    it('server stream - breaking out cancels the handler', async () => {
      let aborted = false;
      const { client } = await pair(({ b }) =>
        b.handle('ticks', async function* (_p, ctx) {
          ctx.signal.addEventListener('abort', () => (aborted = true));
          for (let i = 0; ; i++) yield i;
        }),
      );
      for await (const x of client.stream('ticks')) if ((x as number) >= 3) break;
      await until(() => aborted, 'handler cancelled');
    });

    it('server stream - a handler error reaches the consumer', async () => {
      const { client } = await pair(({ b }) =>
        b.handle('fail', async function* () {
          yield 1;
          throw new RpcError('FAILED_PRECONDITION', 'stop');
        }),
      );
      const got: unknown[] = [];
      const err = await (async () => {
        for await (const x of client.stream('fail')) got.push(x);
      })().catch((e: unknown) => e);
      expect(got).toEqual([1]);
      expect((err as RpcError).status).toBe('FAILED_PRECONDITION');
    });

    it('client stream - the handler consumes the source and answers', async () => {
      const { client } = await pair(({ b }) =>
        b.handle('sum', async (source) => {
          let s = 0;
          for await (const x of source as AsyncIterable<number>) s += x;
          return s;
        }),
      );
      async function* nums(): AsyncGenerator<number> {
        for (let i = 1; i <= 500; i++) yield i;
      }
      expect(await client.clientStream('sum', nums())).toBe(125250);
      expect(await client.clientStream('sum', [1, 2, 3])).toBe(6);
    });

    it('client stream - the handler may answer before the source ends; the source is stopped', async () => {
      const { client } = await pair(({ b }) =>
        b.handle('firstThree', async (source) => {
          const got: unknown[] = [];
          for await (const x of source as AsyncIterable<unknown>) {
            got.push(x);
            if (got.length === 3) break;
          }
          return got;
        }),
      );
      let stopped = false;
      async function* endless(): AsyncGenerator<number> {
        try {
          for (let i = 0; ; i++) {
            yield i;
            await nextTurn();
          }
        } finally {
          stopped = true;
        }
      }
      expect(await client.clientStream('firstThree', endless())).toEqual([0, 1, 2]);
      await until(() => stopped, 'source stopped');
    });

    it('drop - pending calls fail at once when the connection is aborted', async () => {
      let started = 0;
      const { client, server } = await pair(({ b }) =>
        b.handle('hang', () => {
          started++;
          return new Promise(() => undefined);
        }),
      );
      const calls = [client.request('hang'), client.request('hang'), client.request('hang', 1, { deadlineMs: 600_000 })];
      await until(() => started === 3, 'handlers started');
      (await server).abort();
      const codes = await Promise.all(calls.map(codeOf));
      expect(codes.every((c) => c === 'CONNECTION_LOST' || c === 'CONNECTION_CLOSED')).toBe(true);
      const reason = await client.closed;
      expect(reason === undefined || isTransportError(reason)).toBe(true);
      expect(client.state).toBe('closed');
      expect(await codeOf(client.request('hang'))).toMatch(/CONNECTION_(LOST|CLOSED)/);
    });

    it('close - graceful: in-flight calls finish, new ones are refused', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let started = false;
      const { client } = await pair(({ b }) =>
        b.handle('slow', async () => {
          started = true;
          await gate;
          return 'done';
        }),
      );
      const inflight = client.request('slow');
      await until(() => started, 'handler started');
      const closing = client.close();
      expect(client.state).toBe('closing');
      expect(await codeOf(client.request('slow'))).toBe('GOING_AWAY');
      release();
      expect(await inflight).toBe('done');
      await closing;
      expect(client.state).toBe('closed');
      expect(await client.closed).toBeUndefined();
    });

    it('close - the peer sees the close and refuses new work', async () => {
      const { client, server } = await pair(({ b }) => b.handle('x', () => 1));
      const s = await server;
      await client.close();
      await s.closed;
      expect(s.state).toBe('closed');
      expect(await codeOf(s.request('x'))).toMatch(/CONNECTION_CLOSED|CONNECTION_LOST|GOING_AWAY/);
    });

    it('lifecycle - close is idempotent and a closed transport refuses dial/listen', async () => {
      const { fx, client } = await pair();
      await client.close();
      await client.close();
      await fx.a.close();
      await fx.a.close();
      expect(await codeOf(fx.a.dial(fx.address))).toBe('TRANSPORT_CLOSED');
      expect(await codeOf(fx.a.listen(fx.address))).toBe('TRANSPORT_CLOSED');
    });

    it('lifecycle - transport.close closes its connections', async () => {
      const { fx, client, server } = await pair();
      const s = await server;
      expect(fx.a.connections.has(client)).toBe(true);
      await fx.b.close();
      await client.closed;
      expect(s.state).toBe('closed');
      expect(client.state).toBe('closed');
    });

    it('handlers - duplicate registration is refused; disposal unregisters', async () => {
      const { fx, client } = await pair();
      const d = fx.b.handle('m', () => 1);
      expect(() => fx.b.handle('m', () => 2)).toThrow();
      expect(await client.request('m')).toBe(1);
      d[Symbol.dispose]();
      const err = (await client.request('m').catch((e: unknown) => e)) as RpcError;
      expect(err.status).toBe('UNIMPLEMENTED');
    });
  });
}
