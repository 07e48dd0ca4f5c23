import type { NodeId } from './types.js';

const scratch: number[] = [];

/** Highest index matched by a majority of `voters` (`match` gives each voter's index). */
export function majorityIndex(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER; // an empty config does not constrain (joint math)
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = match(voters[i] as NodeId);
  scratch.sort((a, b) => b - a);
  return scratch[(n >> 1)] as number;
}

/** Commit index for a (possibly joint) configuration. */
export function committedIndex(
  incoming: readonly NodeId[],
  outgoing: readonly NodeId[],
  match: (id: NodeId) => number,
): number {
  const a = majorityIndex(incoming, match);
  if (outgoing.length === 0) return a;
  return Math.min(a, majorityIndex(outgoing, match));
}

export type VoteResult = 'won' | 'lost' | 'pending';

function majorityVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let yes = 0;
  let no = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) yes++;
    else if (v === false) no++;
  }
  const q = (voters.length >> 1) + 1;
  if (yes >= q) return 'won';
  if (voters.length - no < q) return 'lost';
  return 'pending';
}

/** Election outcome for a (possibly joint) configuration: both majorities must agree. */
export function voteResult(
  incoming: readonly NodeId[],
  outgoing: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const a = majorityVote(incoming, votes);
  if (outgoing.length === 0) return a;
  const b = majorityVote(outgoing, votes);
  if (a === 'won' && b === 'won') return 'won';
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}

/** Whether `active` holds a quorum of the (possibly joint) configuration. */
export function hasQuorum(incoming: readonly NodeId[], outgoing: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  const ok = (voters: readonly NodeId[]): boolean => {
    if (voters.length === 0) return true;
    let n = 0;
    for (const id of voters) if (active(id)) n++;
    return n >= (voters.length >> 1) + 1;
  };
  return ok(incoming) && ok(outgoing);
}
