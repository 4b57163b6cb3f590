// Builds the native NN backend (native/: fused C kernels plus an SGEMM) with node-gyp. Runs on
// `npm install`/`npm ci` and prints one line saying what it built and why.
//
// The SGEMM: OpenBLAS where a working cblas.h + libopenblas is installed (found by compiling and linking a
// test program, the way autoconf checks a library), else dsrl's built-in kernels (native/gemm.c, AVX-512 /
// AVX2 / generic, chosen at run time). Needs only a C compiler, make and python3: no root, no apt.
//   DSRL_NATIVE_BLAS=builtin   build without OpenBLAS even where it is installed (what a fresh machine gets)
//   DSRL_NATIVE_BLAS=openblas  require OpenBLAS (fail when it is missing)
// A failed build is not fatal unless DSRL_REQUIRE_NATIVE=1 or --force: dsrl then runs on its WebAssembly
// backend (scripts/build-wasm.mjs, or else the portable TypeScript one) and says so once at start-up.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const strict = process.argv.includes('--force') || process.env.DSRL_REQUIRE_NATIVE === '1';
const blasWanted = process.env.DSRL_NATIVE_BLAS || 'auto';
const require = createRequire(import.meta.url);

function fail(message, detail = '') {
  if (detail) console.error(detail.trimEnd().split('\n').slice(-25).join('\n'));
  if (strict) {
    console.error(`dsrl: native backend build failed: ${message}`);
    process.exit(1);
  }
  console.warn(
    `dsrl: native backend not built (${message}); dsrl will use its WebAssembly SIMD backend (slower; the portable TypeScript one where that is not built either); to build it: install g++ make python3, then \`npm run build:native\``,
  );
  process.exit(0);
}

if (!['auto', 'builtin', 'openblas'].includes(blasWanted)) {
  console.error(`dsrl: DSRL_NATIVE_BLAS must be "builtin", "openblas" or "auto", got "${blasWanted}"`);
  process.exit(1);
}

let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  // node-gyp is a devDependency; npm also bundles one.
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  gyp = existsSync(bundled) ? bundled : null;
}
if (!gyp) fail('node-gyp not found');

// The compiler node-gyp's makefiles will call ($CC, else cc).
const cc = process.env.CC || 'cc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).error) fail(`no C compiler found (\`${cc}\` is not on PATH)`);

/** Compile and link a program that calls cblas_sgemm and openblas_set_num_threads; returns cblas.h's path or null. */
function findOpenblas() {
  const dir = mkdtempSync(join(tmpdir(), 'dsrl-blas-'));
  try {
    writeFileSync(
      join(dir, 't.c'),
      [
        '#include <cblas.h>',
        'int main(void) {',
        '  float a = 2, b = 3, c = 0;',
        '  openblas_set_num_threads(1);',
        '  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);',
        '  return c == 6.0f ? 0 : 1;',
        '}',
      ].join('\n'),
    );
    // The include directories binding.gyp adds for OpenBLAS (Debian's multiarch and upstream's layouts).
    const args = [
      '-I/usr/include/x86_64-linux-gnu',
      '-I/usr/include/openblas',
      '-MD',
      '-MF',
      join(dir, 't.d'),
      '-o',
      join(dir, 't'),
      join(dir, 't.c'),
      '-lopenblas',
    ];
    const built = spawnSync(cc, args, { encoding: 'utf8' });
    if (built.status !== 0) return null;
    const ran = spawnSync(join(dir, 't'), [], { stdio: 'ignore', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
    if (ran.status !== 0) return null;
    const header = readFileSync(join(dir, 't.d'), 'utf8')
      .split(/\s+/)
      .find((f) => f.endsWith('/cblas.h'));
    return header ?? 'cblas.h';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let blas = 'builtin';
let why = '';
if (blasWanted === 'builtin') {
  why = 'DSRL_NATIVE_BLAS=builtin';
} else {
  const header = findOpenblas();
  if (header) {
    blas = 'openblas';
    why = `found ${header}`;
  } else if (blasWanted === 'openblas') {
    console.error(
      'dsrl: DSRL_NATIVE_BLAS=openblas but no working cblas.h + libopenblas was found: install libopenblas-dev, or unset DSRL_NATIVE_BLAS',
    );
    process.exit(1);
  } else {
    why = 'no cblas.h + libopenblas found';
  }
}

function build(variant) {
  // Build against the system's Node headers when present (no header download: the network may be closed).
  const args = [gyp, 'rebuild', '--silent'];
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  args.push('--', `-Ddsrl_blas=${variant}`);
  return spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8', maxBuffer: 64 << 20 });
}

let result = build(blas);
if (result.status !== 0 && blas === 'openblas' && blasWanted === 'auto') {
  // The test program linked but the addon did not: build the built-in kernels rather than nothing.
  why = `the OpenBLAS build failed (${(result.stderr || '').trim().split('\n').pop()}), so built without it`;
  blas = 'builtin';
  result = build(blas);
}
if (result.status !== 0) fail(`node-gyp exited with ${result.status}`, `${result.stdout ?? ''}${result.stderr ?? ''}`);

// Load what was built, to report the kernels this CPU will run (and to fail here, not at first use).
let isa;
let bf16;
try {
  const built = require(join(nativeDir, 'build', 'Release', 'dsrl_native.node'));
  isa = built.gemmIsa();
  bf16 = { amx: 'bf16 on AMX', 'avx512-bf16': 'bf16 on AVX512-BF16', none: 'no bf16 units: bf16 base policies run in fp32' }[built.bf16Kernel()];
} catch (err) {
  fail(`the built addon does not load: ${err.message.split('\n')[0]}`);
}
const isaName = { avx512: 'AVX-512', avx2: 'AVX2+FMA', generic: 'generic C' }[isa] ?? isa;
if (blas === 'openblas') {
  console.log(
    `dsrl: native backend built with OpenBLAS (${why}; built-in ${isaName} kernels also inside, DSRL_NATIVE_BLAS=builtin selects them; ${bf16})`,
  );
} else {
  console.log(`dsrl: native backend built with its built-in kernels (${isaName} on this CPU, ${bf16}; ${why})`);
}
