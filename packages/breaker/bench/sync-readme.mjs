// Copies examples/quickstart.ts and bench/results.md into README.md (between the markers).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (f) => readFileSync(path.join(dir, f), 'utf8').trim();
let readme = read('README.md') + '\n';
const put = (name, body) => {
  const re = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  readme = readme.replace(re, () => `<!-- ${name}:start -->\n${body}\n<!-- ${name}:end -->`);
};
put('quickstart', '```ts\n' + read('examples/quickstart.ts') + '\n```');
put('numbers', read('bench/results.md'));
writeFileSync(path.join(dir, 'README.md'), readme);
