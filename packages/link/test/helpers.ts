import { Identity, SecureChannel, memoryDuplexPair, type ChannelOptions, type MemoryDuplex } from '../src/index.js';

export const alice = Identity.fromSeed(new Uint8Array(32).fill(1));
export const bob = Identity.fromSeed(new Uint8Array(32).fill(2));
export const mallory = Identity.fromSeed(new Uint8Array(32).fill(3));

type Tap = (f: Uint8Array) => Uint8Array[] | Uint8Array | undefined;

export async function pair(
  a: Partial<ChannelOptions> = {},
  b: Partial<ChannelOptions> = {},
  taps: { aToB?: Tap; bToA?: Tap } = {},
): Promise<{ client: SecureChannel; server: SecureChannel; da: MemoryDuplex; db: MemoryDuplex }> {
  const [da, db] = memoryDuplexPair(taps);
  const [client, server] = await Promise.all([
    SecureChannel.connect(da, { identity: alice, ...a }),
    SecureChannel.accept(db, { identity: bob, ...b }),
  ]);
  return { client, server, da, db };
}

/** Settles both sides of a handshake, returning each outcome (value or error). */
export async function pairOutcome(
  a: Partial<ChannelOptions> = {},
  b: Partial<ChannelOptions> = {},
  taps: { aToB?: Tap; bToA?: Tap } = {},
): Promise<{ client: PromiseSettledResult<SecureChannel>; server: PromiseSettledResult<SecureChannel> }> {
  const [da, db] = memoryDuplexPair(taps);
  const [client, server] = await Promise.allSettled([
    SecureChannel.connect(da, { identity: alice, handshakeTimeoutMs: 2000, ...a }),
    SecureChannel.accept(db, { identity: bob, handshakeTimeoutMs: 2000, ...b }),
  ]);
  return { client, server };
}

export function codeOf(r: PromiseSettledResult<unknown>): string | undefined {
  if (r.status === 'fulfilled') return undefined;
  return (r.reason as { code?: string }).code;
}

export function nextMessage(ch: SecureChannel): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const d = ch.onMessage((m) => {
      d[Symbol.dispose]();
      resolve(m);
    });
  });
}

export function closed(ch: SecureChannel): Promise<string | undefined> {
  return new Promise((resolve) => ch.onClose((e) => { resolve(e?.code); }));
}
