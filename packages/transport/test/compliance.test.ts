import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryNetwork, MemoryTransport, TcpTransport } from '../src/index.js';
import { transportCompliance } from '../src/compliance.js';

transportCompliance('memory', async () => {
  const network = new MemoryNetwork({ seed: 1 });
  const a = new MemoryTransport(network, { name: 'a' });
  const b = new MemoryTransport(network, { name: 'b' });
  return {
    a,
    b,
    address: 'b',
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});

transportCompliance('tcp ipv4', async () => {
  const a = new TcpTransport();
  const b = new TcpTransport();
  return {
    a,
    b,
    address: '127.0.0.1:0',
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});

transportCompliance('tcp unix socket', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'abi-transport-'));
  const a = new TcpTransport();
  const b = new TcpTransport();
  return {
    a,
    b,
    address: `unix:${path.join(dir, 's.sock')}`,
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});
