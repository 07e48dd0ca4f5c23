// etcd-style interaction scripts: each file in testdata/ is a list of commands; the transcript of
// every delivered message and state change is compared with a golden file (testdata/*.golden).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/testing/index.js';
import type { Entry, Message } from '../../src/index.js';

const dir = join(import.meta.dirname, 'testdata');
const dec = new TextDecoder();

function ents(es: readonly Entry[]): string {
  return es.map((e) => `${e.index}/${e.term}${e.type === 'normal' ? `:${dec.decode(e.data)}` : ` ${e.type}`}`).join(' ');
}

function fmt(m: Message): string {
  const h = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'vote':
    case 'prevote':
      return `${h} last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'vote-resp':
    case 'prevote-resp':
      return `${h}${m.reject ? ' REJECT' : ''}`;
    case 'app':
      return `${h} prev=${m.prevIndex}/${m.prevTerm} commit=${m.commit} [${ents(m.entries)}]`;
    case 'app-resp':
      return `${h} index=${m.index}${m.reject ? ` REJECT hint=${m.hintIndex}/${m.hintTerm}` : ''}`;
    case 'heartbeat':
      return `${h} commit=${m.commit}`;
    default:
      return h;
  }
}

function run(script: string): string {
  const out: string[] = [];
  let c: Cluster | null = null;
  const cluster = (): Cluster => {
    if (c === null) throw new Error('add-nodes first');
    return c;
  };
  for (const raw of script.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(`> ${line}`);
    const [cmd, ...args] = line.split(/\s+/) as [string, ...string[]];
    switch (cmd) {
      case 'add-nodes': {
        c = new Cluster({ voters: args, seed: 1 });
        c.filter = (m) => {
          if (m.type !== 'heartbeat' && m.type !== 'heartbeat-resp') out.push(`  ${fmt(m)}`);
          return true;
        };
        break;
      }
      case 'campaign':
        cluster().raw(args[0] as string).campaign();
        break;
      case 'propose':
        cluster().raw(args[0] as string).propose(new TextEncoder().encode(args[1] ?? ''));
        break;
      case 'transfer':
        cluster().raw(args[0] as string).transferLeader(args[1] as string);
        break;
      case 'tick':
        cluster().tick(args[0] as string, Number(args[1] ?? '1'));
        break;
      case 'isolate':
        cluster().isolate(args[0] as string);
        break;
      case 'cut':
        cluster().cut(args[0] as string, args[1] as string);
        break;
      case 'heal':
        cluster().heal();
        break;
      case 'stabilize':
        cluster().stabilize();
        break;
      case 'status':
        for (const [id, n] of cluster().nodes) {
          const r = n.raw;
          out.push(`  ${id}: ${r.role} term=${r.term} leader=${String(r.leader)} commit=${r.commitIndex} applied=${r.appliedIndex} last=${r.lastIndex}`);
        }
        break;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }
  return out.join('\n') + '\n';
}

describe('interaction scripts (testdata/*.txt)', () => {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.txt'))) {
    it(f, async () => {
      const transcript = run(readFileSync(join(dir, f), 'utf8'));
      await expect(transcript).toMatchFileSnapshot(join(dir, f.replace(/\.txt$/, '.golden')));
    });
  }
});
