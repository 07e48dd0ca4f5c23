import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import { applyConfChange, decodeConfChange, encodeConfChange, type ConfState } from '../../src/index.js';
import { codeOf, conf, enc } from './helpers.js';

const base = conf(['a', 'b', 'c']);

describe('membership arithmetic (applyConfChange)', () => {
  it('a single voter change applies directly', () => {
    const c = applyConfChange(base, { changes: [{ type: 'add-voter', id: 'd' }] });
    expect(c.voters).toEqual(['a', 'b', 'c', 'd']);
    expect(c.votersOutgoing).toEqual([]);
  });

  it('several voter changes enter a joint configuration; an empty change leaves it', () => {
    const j = applyConfChange(base, { changes: [{ type: 'add-voter', id: 'd' }, { type: 'remove', id: 'a' }] });
    expect(j.votersOutgoing).toEqual(['a', 'b', 'c']);
    expect([...j.voters].sort()).toEqual(['b', 'c', 'd']);
    expect(j.autoLeave).toBe(true);
    expect(codeOf(() => applyConfChange(j, { changes: [{ type: 'add-voter', id: 'e' }] }))).toBe('invalid-conf-change');
    const left = applyConfChange(j, { changes: [] });
    expect(left.votersOutgoing).toEqual([]);
    expect(left.removed).toEqual(['a']);
  });

  it('demoting a voter while joint makes it a learner only when the joint configuration is left', () => {
    const j = applyConfChange(base, { changes: [{ type: 'add-learner', id: 'a' }], transition: 'joint' });
    expect(j.learnersNext).toEqual(['a']);
    expect(j.votersOutgoing).toContain('a');
    expect(j.autoLeave).toBe(false);
    const left = applyConfChange(j, { changes: [] });
    expect(left.learners).toEqual(['a']);
    expect(left.voters).not.toContain('a');
    expect(left.removed).toEqual([]);
  });

  it('refuses to leave no voters, to re-add removed ids, and to leave a non-joint config', () => {
    expect(codeOf(() => applyConfChange(conf(['a']), { changes: [{ type: 'remove', id: 'a' }] }))).toBe('invalid-conf-change');
    const removed: ConfState = { ...base, removed: ['x'] };
    expect(codeOf(() => applyConfChange(removed, { changes: [{ type: 'add-learner', id: 'x' }] }))).toBe('invalid-conf-change');
    expect(codeOf(() => applyConfChange(base, { changes: [] }))).toBe('invalid-conf-change');
  });

  it('encodes and decodes, rejecting malformed data with a typed error', () => {
    const cc = { changes: [{ type: 'add-voter' as const, id: 'n9' }], transition: 'joint' as const };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(codeOf(() => decodeConfChange(enc('{')))).toBe('invalid-conf-change');
    expect(codeOf(() => decodeConfChange(enc('{"changes":[{"type":"boom","id":"x"}]}')))).toBe('invalid-conf-change');
    expect(codeOf(() => decodeConfChange(new Uint8Array([0xff, 0xfe])))).toBe('invalid-conf-change');
  });
});

describe('flow control and forwarding', () => {
  it('max in-flight bytes pauses replication to a follower', () => {
    const c = new Cluster({ voters: ['a', 'b'], config: { maxSizePerMsg: 500, maxInflightBytes: 1000, maxInflightMsgs: 100 } });
    c.elect('a');
    const a = c.raw('a');
    for (let i = 0; i < 100; i++) a.propose(new Uint8Array(100));
    const rd = a.ready();
    const apps = rd.messages.filter((m) => m.type === 'app');
    const bytes = apps.reduce((n, m) => n + m.entries.reduce((k, e) => k + e.data.byteLength + 24, 0), 0);
    expect(bytes).toBeGreaterThanOrEqual(1000);
    expect(bytes).toBeLessThan(1000 + 500);
    c.node('a').disk.append(rd.entries);
    a.advance(rd);
    for (const m of rd.messages) c.queue.push(m);
    c.stabilize();
    expect(a.commitIndex).toBe(a.lastIndex);
  });

  it('followers forward proposals to the leader (propose returns 0) unless disabled', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    expect(c.raw('b').propose(enc('via-b'))).toBe(0);
    c.stabilize();
    expect(c.node('a').applied.some((e) => new TextDecoder().decode(e.data) === 'via-b')).toBe(true);
    const d = new Cluster({ voters: ['a', 'b', 'c'], config: { disableProposalForwarding: true } });
    d.elect('a');
    expect(codeOf(() => d.raw('b').propose(enc('x')))).toBe('not-leader');
  });

  it('reportUnreachable stops pipelining to a peer until it answers again', () => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    c.raw('a').reportUnreachable('b');
    expect(c.raw('a').status().progress.find((p) => p.id === 'b')?.state).toBe('probe');
    c.raw('a').propose(enc('x'));
    c.stabilize();
    expect(c.raw('a').status().progress.find((p) => p.id === 'b')?.state).toBe('replicate');
  });
});
