import { MemoryStorage, RawNode, isRaftError, type ConfState, type Entry, type HardState, type Message, type RaftConfig, type Ready } from '../../src/index.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export function conf(voters: string[], learners: string[] = []): ConfState {
  return { voters, learners, votersOutgoing: [], learnersNext: [], autoLeave: false, removed: [] };
}

/** A disk holding entries with the given terms (index 1..n) and a hard state. */
export function diskWith(c: ConfState, terms: number[], hs: Partial<HardState> = {}): MemoryStorage {
  const d = MemoryStorage.withConf(c);
  d.append(terms.map((term, i): Entry => ({ term, index: i + 1, type: 'normal', data: enc(`e${i + 1}t${term}`) })));
  d.setHardState({ term: Math.max(0, ...terms), vote: null, commit: 0, ...hs });
  return d;
}

export type Cfg = Partial<Omit<RaftConfig, 'id' | 'storage'>>;

export function node(id: string, disk: MemoryStorage, cfg: Cfg = {}): RawNode {
  return new RawNode({ id, storage: disk, random: () => 0, electionTick: 10, heartbeatTick: 1, ...cfg });
}

/** Handle every Ready like a correct driver; return all messages and the readys. */
export function drain(n: RawNode, disk: MemoryStorage): { msgs: Message[]; readys: Ready[] } {
  const msgs: Message[] = [];
  const readys: Ready[] = [];
  while (n.hasReady()) {
    const rd = n.ready();
    readys.push(rd);
    msgs.push(...rd.messages);
    if (rd.snapshot !== null) disk.applySnapshot(rd.snapshot);
    disk.append(rd.entries);
    if (rd.hardState !== null) disk.setHardState(rd.hardState);
    msgs.push(...rd.persistedMessages);
    n.advance(rd);
  }
  return { msgs, readys };
}

export function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    return isRaftError(e) ? e.code : `not a RaftError: ${String(e)}`;
  }
  return undefined;
}

export const noData = new Uint8Array(0);
