// Builds the WebAssembly SIMD NN backend (wasm/*.ts, AssemblyScript) into wasm/build/dsrl_nn.wasm, plus
// dsrl_nn.json stamping the sources' hash (src/nn/wasm-loader.ts refuses a build older than its sources). Runs
// on `npm install`/`npm ci` before the native build and prints one line.
//
// Why AssemblyScript: it is an npm package (pinned in devDependencies) written in JS + wasm, so the build needs
// only Node: no C compiler, no emsdk, nothing downloaded at build time; the machines that cannot build the
// native addon still build this. Its language is TypeScript's syntax with explicit f32/v128 types, readable
// beside src/nn/js-backend.ts, and its v128 intrinsics map one to one onto WebAssembly SIMD instructions.
// The .wasm is built, not committed (one source of truth); a copy of dsrl installed without its
// devDependencies skips this build and runs the native or TypeScript backend.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'wasm');
const outDir = join(srcDir, 'build');

let asc;
try {
  asc = (await import('assemblyscript/asc')).default;
} catch {
  console.warn('dsrl: WebAssembly backend not built (the assemblyscript devDependency is not installed); dsrl uses its native or TypeScript backend');
  process.exit(0);
}

/** Same hash as wasmSourceHash in src/nn/wasm-loader.ts: each wasm/*.ts by name as name, NUL, contents, NUL. */
function sourceHash() {
  const h = createHash('sha256');
  for (const name of readdirSync(srcDir)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    h.update(`${name}\0`);
    h.update(readFileSync(join(srcDir, name)));
    h.update('\0');
  }
  return h.digest('hex');
}

// -O3: binaryen's full speed pipeline. --runtime stub: the kernels allocate nothing (the JS side hands them
// regions of the module's memory), so no allocator or GC is linked in. --noAssert: no bounds-check traps in
// the loops (the JS side checks every array's length before the call).
const flags = ['--enable', 'simd', '-O3', '--noAssert', '--runtime', 'stub'];
const hash = sourceHash();
let binary = null;
let log = '';
const sink = { write: (s) => ((log += String(s)), true) };
const { error } = await asc.main([join(srcDir, 'index.ts'), '--outFile', 'dsrl_nn.wasm', ...flags], {
  stdout: sink,
  stderr: sink,
  writeFile: (name, contents) => {
    if (name.endsWith('.wasm')) binary = contents;
  },
});
if (error || !binary) {
  console.error(log.trimEnd());
  console.error(`dsrl: WebAssembly backend build failed: ${error?.message ?? 'no module written'}`);
  process.exit(1);
}

// Atomic writes: a reader never sees half a module, nor a stamp that does not match it.
mkdirSync(outDir, { recursive: true });
const write = (name, data) => {
  const tmp = join(outDir, `.${name}.${process.pid}`);
  writeFileSync(tmp, data);
  renameSync(tmp, join(outDir, name));
};
write('dsrl_nn.wasm', binary);
write('dsrl_nn.json', `${JSON.stringify({ sourceSha256: hash, assemblyscript: asc.version, flags }, null, 2)}\n`);
console.log(`dsrl: WebAssembly SIMD backend built (wasm/build/dsrl_nn.wasm, ${binary.length} bytes, AssemblyScript ${asc.version})`);
