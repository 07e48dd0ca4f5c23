import { RaftError } from '../errors.js';
import type { ConfChange, ConfChangeSingle, ConfState, NodeId } from './types.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Encode a ConfChange for a `conf-change` entry (UTF-8 JSON, stable field order). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return enc.encode(JSON.stringify({ changes: cc.changes.map((c) => ({ type: c.type, id: c.id })), transition: cc.transition ?? 'auto' }));
}

function bad(msg: string): RaftError {
  return new RaftError('invalid-conf-change', msg);
}

/** Decode and validate the data of a `conf-change` entry. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch (e) {
    throw new RaftError('invalid-conf-change', 'conf change is not valid UTF-8 JSON', { cause: e });
  }
  if (typeof raw !== 'object' || raw === null) throw bad('conf change: not an object');
  const o = raw as { changes?: unknown; transition?: unknown };
  if (!Array.isArray(o.changes)) throw bad('conf change: changes must be an array');
  const changes: ConfChangeSingle[] = [];
  for (const c of o.changes as unknown[]) {
    if (typeof c !== 'object' || c === null) throw bad('conf change: change must be an object');
    const { type, id } = c as { type?: unknown; id?: unknown };
    if (type !== 'add-voter' && type !== 'add-learner' && type !== 'remove') throw bad(`conf change: bad type ${String(type)}`);
    if (typeof id !== 'string' || id.length === 0) throw bad('conf change: id must be a non-empty string');
    changes.push({ type, id });
  }
  const t = o.transition;
  if (t !== undefined && t !== 'auto' && t !== 'joint') throw bad('conf change: bad transition');
  return t === undefined ? { changes } : { changes, transition: t };
}

export function isJoint(c: ConfState): boolean {
  return c.votersOutgoing.length > 0;
}

/** Every member (voters of both halves and learners). */
export function members(c: ConfState): Set<NodeId> {
  return new Set([...c.voters, ...c.votersOutgoing, ...c.learners, ...c.learnersNext]);
}

/**
 * Apply `cc` to `conf`, returning the new configuration or throwing `invalid-conf-change`.
 * A single voter change (or learner-only changes) applies directly; anything bigger enters a
 * joint configuration; an empty change leaves it.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const removedBefore = new Set(conf.removed);
  const before = members(conf);
  if (cc.changes.length === 0) {
    if (!isJoint(conf)) throw bad('leave joint: configuration is not joint');
    const learners = new Set([...conf.learners, ...conf.learnersNext]);
    for (const v of conf.voters) learners.delete(v);
    return finish(conf, before, removedBefore, {
      voters: [...conf.voters],
      learners: [...learners],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
  }
  if (isJoint(conf)) throw bad('configuration is joint: leave it before another change');
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  const learnersNext = new Set<NodeId>();
  let voterChanges = 0;
  for (const c of cc.changes) {
    if (removedBefore.has(c.id) && c.type !== 'remove') throw bad(`node id ${c.id} was removed and cannot be reused`);
  }
  // Decide on joint first: count the voters whose membership changes.
  const after = new Set(conf.voters);
  for (const c of cc.changes) {
    if (c.type === 'add-voter') after.add(c.id);
    else after.delete(c.id);
  }
  for (const v of after) if (!voters.has(v)) voterChanges++;
  for (const v of voters) if (!after.has(v)) voterChanges++;
  // From an empty configuration (bootstrap) there is nothing to be joint with.
  const joint = conf.voters.length > 0 && (cc.transition === 'joint' || voterChanges > 1);
  for (const c of cc.changes) {
    switch (c.type) {
      case 'add-voter':
        voters.add(c.id);
        learners.delete(c.id);
        learnersNext.delete(c.id);
        break;
      case 'add-learner':
        if (voters.has(c.id)) {
          voters.delete(c.id);
          if (joint) learnersNext.add(c.id);
          else learners.add(c.id);
        } else {
          learners.add(c.id);
        }
        break;
      case 'remove':
        voters.delete(c.id);
        learners.delete(c.id);
        learnersNext.delete(c.id);
        break;
    }
  }
  if (voters.size === 0) throw bad('the change would leave no voters');
  return finish(conf, before, removedBefore, {
    voters: [...voters],
    learners: [...learners],
    votersOutgoing: joint ? [...conf.voters] : [],
    learnersNext: [...learnersNext],
    autoLeave: joint && cc.transition !== 'joint',
  });
}

function finish(
  _conf: ConfState,
  before: Set<NodeId>,
  removedBefore: Set<NodeId>,
  next: Omit<ConfState, 'removed'>,
): ConfState {
  const now = new Set([...next.voters, ...next.votersOutgoing, ...next.learners, ...next.learnersNext]);
  const removed = new Set(removedBefore);
  for (const id of before) if (!now.has(id)) removed.add(id);
  return { ...next, removed: [...removed] };
}
