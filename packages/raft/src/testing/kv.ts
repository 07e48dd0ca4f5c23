import type { Entry, Snapshot } from '../core/types.js';
import type { TestStateMachine } from './memory-node.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A write command of the example key-value state machine. */
export type KvCommand =
  | { readonly op: 'put'; readonly id: string; readonly key: string; readonly value: string }
  | { readonly op: 'cas'; readonly id: string; readonly key: string; readonly expected: string | null; readonly value: string };

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(data)) as KvCommand;
}

/** A deterministic in-memory key-value state machine (put, cas; reads are local). */
export class KvStateMachine implements TestStateMachine {
  data = new Map<string, string>();
  /** Result of the last applied command (`true` for put; cas success). */
  lastResult = false;
  lastCommand: KvCommand | null = null;

  apply(e: Entry): void {
    this.lastCommand = null;
    if (e.type !== 'normal' || e.data.byteLength === 0) return;
    const c = decodeKvCommand(e.data);
    this.lastCommand = c;
    if (c.op === 'put') {
      this.data.set(c.key, c.value);
      this.lastResult = true;
    } else {
      const cur = this.data.get(c.key) ?? null;
      this.lastResult = cur === c.expected;
      if (this.lastResult) this.data.set(c.key, c.value);
    }
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.data]));
  }

  restore(snap: Snapshot): void {
    this.data = snap.data.byteLength === 0 ? new Map<string, string>() : new Map<string, string>(JSON.parse(dec.decode(snap.data)) as [string, string][]);
  }
}
