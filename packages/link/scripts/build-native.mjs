#!/usr/bin/env node
/* global process, console */
/**
 * Builds native/abi_link_aead.node (optional, see native/aead.c) with node-gyp against the headers
 * of the running Node.js, which include its OpenSSL. Without a compiler or headers the package
 * still works: src/native.ts falls back to node:crypto. Where the native path is expected (CI, or
 * ABI_LINK_REQUIRE_NATIVE=1) a failed build is an error; elsewhere (e.g. `npm install` on a
 * machine with no toolchain) it is a warning.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// --optional (the install script): never fail an installation; the build script is strict in CI.
const strict = !process.argv.includes('--optional') && (process.env.ABI_LINK_REQUIRE_NATIVE === '1' || (process.env.CI === 'true' && process.env.ABI_LINK_NATIVE !== '0'));

function done(ok, message) {
  if (ok) {
    console.log(`@abi/link: ${message}`);
    process.exit(0);
  }
  console.warn(`@abi/link: ${message}; the record layer will use node:crypto`);
  process.exit(strict ? 1 : 0);
}

if (process.env.ABI_LINK_NATIVE === '0') done(true, 'native AEAD disabled by ABI_LINK_NATIVE=0, not built');

let gyp;
try {
  gyp = createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
} catch {
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) gyp = bundled;
}
if (gyp === undefined) done(false, 'node-gyp not found, native AEAD not built');

// Headers of this very Node (they carry its OpenSSL): a distribution's /usr/include/node, or an
// explicit npm_config_nodedir; otherwise node-gyp fetches them for the running version.
const args = [gyp, 'rebuild', '--directory', path.join(root, 'native'), '--loglevel', 'warn'];
const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
const nodedir = candidates.find((d) => existsSync(path.join(d, 'include', 'node', 'node_api.h')) && existsSync(path.join(d, 'include', 'node', 'openssl', 'evp.h')));
if (nodedir !== undefined) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
const built = path.join(root, 'native', 'build', 'Release', 'abi_link_aead.node');
if (r.status !== 0 || !existsSync(built)) done(false, `native AEAD build failed (node-gyp exit ${r.status ?? r.signal})`);
done(true, `native AEAD built (${path.relative(root, built)})`);
