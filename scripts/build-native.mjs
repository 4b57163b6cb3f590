// Builds the native NN backend (native/dsrl_native.c against OpenBLAS) with node-gyp.
// Runs on `npm install`/`npm ci`. A failed build is not fatal unless DSRL_REQUIRE_NATIVE=1 or --force:
// dsrl then runs on its portable TypeScript backend and says so once at start-up.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const strict = process.argv.includes('--force') || process.env.DSRL_REQUIRE_NATIVE === '1';

let gyp;
try {
  gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
} catch {
  // node-gyp is a devDependency; npm also bundles one.
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  gyp = existsSync(bundled) ? bundled : null;
}

function fail(message) {
  if (strict) {
    console.error(`dsrl: native backend build failed: ${message}`);
    process.exit(1);
  }
  console.warn(`dsrl: native backend not built (${message}); the portable TypeScript backend will be used.`);
  console.warn('dsrl: to enable it: apt-get install libopenblas-dev g++ make python3 && npm run build:native');
  process.exit(0);
}

if (!gyp) fail('node-gyp not found');
// Build against the system's Node headers when present (no header download: the network may be closed).
const args = [gyp, 'rebuild', '--silent'];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const result = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit' });
if (result.status !== 0) fail(`node-gyp exited with ${result.status}`);
console.log('dsrl: native backend built (native/build/Release/dsrl_native.node)');
