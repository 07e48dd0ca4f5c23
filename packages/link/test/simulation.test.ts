/**
 * Seeded simulation: secure channels over the simulated network with drop / duplicate / reorder
 * faults on whole writes. Integrity property: the receiver gets a gap-free prefix 0, 1, 2, … of
 * what was sent (never a duplicate, a reordering or a corrupted message), and any fault closes the
 * channel with a typed error. Prints the seed on failure.
 */
import { MemoryNetwork, type ByteStream } from '@abi/transport';
import { describe, expect, it } from 'vitest';
import { SecureChannel, byteStreamDuplex, isLinkError } from '../src/index.js';
import { alice, bob } from './helpers.js';

const seeds = Number(process.env.LINK_SIM_SEEDS ?? 12);

describe('secure channel under network faults (seeded)', () => {
  for (let seed = 1; seed <= seeds; seed++) {
    it(`seed ${seed}: delivers a gap-free prefix or closes with a typed error`, async () => {
      const network = new MemoryNetwork({ seed, clock: 'virtual' });
      const serverSide = new Promise<ByteStream>((resolve) => {
        void network.node('b').listen('b', resolve);
      });
      const raw = await network.run(network.node('a').dial('b'));
      const rawB = await serverSide;
      const [client, server] = await network.run(Promise.all([
        SecureChannel.connect(byteStreamDuplex(raw), { identity: alice, clock: network.clock }),
        SecureChannel.accept(byteStreamDuplex(rawB), { identity: bob, clock: network.clock }),
      ]));
      const got: number[] = [];
      server.onMessage((m) => got.push(new DataView(m.buffer, m.byteOffset, 4).getUint32(0)));
      const serverClosed = new Promise<unknown>((r) => server.onClose(r));
      // faults start after the handshake
      network.setFaults({ drop: 0.02 * (seed % 3), duplicate: 0.02 * ((seed + 1) % 3), reorder: 0.02 * ((seed + 2) % 3), delayMs: [0, 3] });
      let sent = 0;
      for (let i = 0; i < 200 && client.state === 'open'; i++) {
        const m = new Uint8Array(8 + (i % 50));
        new DataView(m.buffer).setUint32(0, i);
        try {
          await client.send(m);
          sent++;
        } catch {
          break;
        }
        if (i % 20 === 0) await network.runFor(5);
      }
      await network.runFor(500);
      const faults = network.stats.dropped + network.stats.duplicated + network.stats.reordered;
      try {
        expect(got).toEqual(got.map((_, i) => i));
        expect(got.length).toBeLessThanOrEqual(sent);
        if (server.state === 'closed') {
          const e = server.closeError ?? (await serverClosed);
          if (e !== undefined) expect(isLinkError(e)).toBe(true);
        }
        if (faults === 0) expect(got.length).toBe(sent);
      } catch (e) {
        console.error(`simulation failed with seed ${seed} (faults: ${JSON.stringify(network.stats)})`);
        throw e;
      }
      if (process.env.LINK_SIM_VERBOSE !== undefined) console.log(seed, JSON.stringify(network.stats), 'sent', sent, 'got', got.length, server.state, server.closeError?.code);
      await client.close();
    });
  }
});
