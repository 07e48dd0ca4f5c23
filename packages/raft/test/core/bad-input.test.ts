// Malformed or out-of-range messages are rejected with typed errors and never change state.
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import { InvalidMessageError, type Message } from '../../src/index.js';
import { conf, diskWith, node } from './helpers.js';

function snapshotOf(c: Cluster, id: string): string {
  const s = c.raw(id).status();
  return JSON.stringify({ ...s, progress: s.progress.map((p) => ({ ...p })) });
}

describe('bad input', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.raw('a').propose(new TextEncoder().encode('x'));
  c.stabilize();
  const term = c.raw('a').term;

  const cases: [string, string, unknown][] = [
    ['not an object', 'invalid-message', 42],
    ['unknown type', 'invalid-message', { type: 'bogus', from: 'b', to: 'a', term }],
    ['missing from', 'invalid-message', { type: 'heartbeat-resp', to: 'a', term, context: '' }],
    ['negative term', 'invalid-message', { type: 'heartbeat-resp', from: 'b', to: 'a', term: -1, context: '' }],
    ['fractional index', 'invalid-message', { type: 'app-resp', from: 'b', to: 'a', term, reject: false, index: 1.5, hintIndex: 0, hintTerm: 0 }],
    ['wrong recipient', 'invalid-message', { type: 'heartbeat-resp', from: 'b', to: 'z', term, context: '' }],
    ['unknown peer', 'unknown-peer', { type: 'app-resp', from: 'zz', to: 'a', term, reject: false, index: 1, hintIndex: 0, hintTerm: 0 }],
    ['impossible index (beyond the leader log)', 'invalid-message', { type: 'app-resp', from: 'b', to: 'a', term, reject: false, index: 1e9, hintIndex: 0, hintTerm: 0 }],
    ['hint above rejected index', 'invalid-message', { type: 'app-resp', from: 'b', to: 'a', term, reject: true, index: 1, hintIndex: 5, hintTerm: 0 }],
    [
      'non-contiguous entries',
      'invalid-message',
      { type: 'app', from: 'b', to: 'a', term: term + 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 2, type: 'normal', data: new Uint8Array() }] },
    ],
    [
      'entry term above message term',
      'invalid-message',
      { type: 'app', from: 'b', to: 'a', term: term + 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: term + 9, index: 1, type: 'normal', data: new Uint8Array() }] },
    ],
    [
      'entry data not bytes',
      'invalid-message',
      { type: 'app', from: 'b', to: 'a', term: term + 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 1, type: 'normal', data: 'x' }] },
    ],
    [
      'oversize snapshot chunk',
      'snapshot-chunk-too-large',
      { type: 'snap', from: 'b', to: 'a', term: term + 1, meta: { index: 5, term: 1, conf: conf(['a']) }, offset: 0, totalBytes: 2 << 20, data: new Uint8Array(2 << 20), done: true },
    ],
    [
      'snapshot chunk beyond total',
      'invalid-message',
      { type: 'snap', from: 'b', to: 'a', term: term + 1, meta: { index: 5, term: 1, conf: conf(['a']) }, offset: 8, totalBytes: 10, data: new Uint8Array(4), done: true },
    ],
    [
      'snapshot with bad conf',
      'invalid-message',
      { type: 'snap', from: 'b', to: 'a', term: term + 1, meta: { index: 5, term: 1, conf: { voters: [1] } }, offset: 0, totalBytes: 1, data: new Uint8Array(1), done: true },
    ],
    ['vote with lastLogTerm above its term', 'invalid-message', { type: 'vote', from: 'b', to: 'a', term: term + 1, lastLogIndex: 3, lastLogTerm: term + 5, transfer: false }],
  ];

  for (const [name, code, msg] of cases) {
    it(`${name} → ${code}, state unchanged`, () => {
      const before = snapshotOf(c, 'a');
      let err: unknown;
      try {
        c.raw('a').step(msg as Message);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidMessageError);
      expect((err as InvalidMessageError).code).toBe(code);
      expect((err as InvalidMessageError).field.length).toBeGreaterThan(0);
      expect(snapshotOf(c, 'a')).toBe(before);
      expect(c.raw('a').hasReady()).toBe(false);
    });
  }

  it('the cluster keeps working after rejecting garbage', () => {
    const idx = c.raw('a').propose(new TextEncoder().encode('y'));
    c.stabilize();
    expect(c.raw('b').commitIndex).toBe(idx);
  });

  it('invalid config is rejected with invalid-config', () => {
    const d = diskWith(conf(['a']), []);
    expect(() => node('a', d, { heartbeatTick: 20 })).toThrow(expect.objectContaining({ code: 'invalid-config' }) as Error);
    expect(() => node('', d)).toThrow(expect.objectContaining({ code: 'invalid-config' }) as Error);
    expect(() => node('a', d, { maxInflightMsgs: 0 })).toThrow(expect.objectContaining({ code: 'invalid-config' }) as Error);
  });
});
