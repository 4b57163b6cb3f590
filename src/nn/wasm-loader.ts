/**
 * Finds and compiles the WebAssembly SIMD backend's module, wasm/build/dsrl_nn.wasm (built from wasm/*.ts by
 * scripts/build-wasm.mjs at npm install). Browser-safe like native-loader.ts:
 *   Node:    read synchronously through `process.getBuiltinModule('node:fs')`, so getBackend() stays
 *            synchronous; a build older than its sources is refused (run `npm run build:wasm`).
 *   browser: `await prepareWasmModule()` (or backend.ts's prepareBackend) fetches and compiles it first. Bundlers
 *            (Vite) emit the file for the `new URL(..., import.meta.url)` below and rewrite its address.
 */
import { createWasmBackend, type WasmBackend } from './wasm-backend.ts';

/** Where the built module lies, next to its sources. */
export const WASM_MODULE_URL = new URL('../../wasm/build/dsrl_nn.wasm', import.meta.url);
// Derived from it rather than written as `new URL('…', import.meta.url)`, which bundlers would inline: Node only.
const STAMP_URL = new URL('dsrl_nn.json', WASM_MODULE_URL);
const SOURCES_URL = new URL('../', WASM_MODULE_URL);

let failure = '';
let backend: WasmBackend | null = null;

interface NodeFs {
  readFileSync(path: URL, enc?: 'utf8'): Uint8Array & { toString(): string };
  readdirSync(path: URL): string[];
}
interface NodeCrypto {
  createHash(alg: 'sha256'): { update(data: string | Uint8Array): unknown; digest(enc: 'hex'): string };
}

function nodeBuiltin<T>(id: string): T | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown; versions?: { node?: string } } }).process;
  if (!proc?.versions?.node || typeof proc.getBuiltinModule !== 'function') return null;
  return proc.getBuiltinModule(id) as T;
}

/**
 * The hash scripts/build-wasm.mjs stamps next to the module: sha256 over each wasm/*.ts (sorted by name) as
 * name, NUL, contents, NUL. Keep the two in step.
 */
function wasmSourceHash(fs: NodeFs, crypto: NodeCrypto): string {
  const h = crypto.createHash('sha256');
  for (const name of fs
    .readdirSync(SOURCES_URL)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    h.update(`${name}\0`);
    h.update(fs.readFileSync(new URL(name, SOURCES_URL)));
    h.update('\0');
  }
  return h.digest('hex');
}

const NEEDS_SIMD = 'it needs WebAssembly SIMD (Node >= 16.4, a current browser)';

/** Node: read, compile and instantiate the built module synchronously, refusing a stale build. */
function instantiateFromDisk(): WebAssembly.Instance {
  const fs = nodeBuiltin<NodeFs>('node:fs');
  const crypto = nodeBuiltin<NodeCrypto>('node:crypto');
  if (!fs || !crypto) throw new Error('not prepared (in a browser, await prepareBackend() first)');
  let bytes: Uint8Array;
  let stamp: { sourceSha256?: string };
  try {
    bytes = fs.readFileSync(WASM_MODULE_URL);
    stamp = JSON.parse(fs.readFileSync(STAMP_URL, 'utf8').toString());
  } catch {
    throw new Error('wasm/build/dsrl_nn.wasm is not built; run `npm run build:wasm`');
  }
  let sources = '';
  try {
    sources = wasmSourceHash(fs, crypto);
  } catch {
    // an installed copy without wasm/*.ts: nothing to compare against
  }
  if (sources && stamp.sourceSha256 !== sources) {
    throw new Error('wasm/build/dsrl_nn.wasm was built from other wasm/*.ts sources than these; run `npm run build:wasm`');
  }
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {});
  } catch (err) {
    throw new Error(`this engine cannot compile the module; ${NEEDS_SIMD}: ${(err as Error).message}`);
  }
}

/**
 * Fetch (or take) and instantiate the module ahead of getBackend(), as a browser must: it reads no file
 * synchronously, and its main thread compiles only small modules synchronously. `source`: the module's bytes,
 * or where to fetch them (default: WASM_MODULE_URL; in Node, the file).
 */
export async function prepareWasmModule(source?: URL | string | BufferSource): Promise<void> {
  if (backend) return;
  try {
    if (source === undefined && nodeBuiltin('node:fs')) {
      backend = createWasmBackend(instantiateFromDisk()); // Node's fetch reads no file: URLs
    } else {
      source ??= WASM_MODULE_URL;
      let bytes: BufferSource;
      if (source instanceof URL || typeof source === 'string') {
        const res = await fetch(source);
        if (!res.ok) throw new Error(`fetching ${String(source)}: HTTP ${res.status}`);
        bytes = await res.arrayBuffer();
      } else {
        bytes = source;
      }
      let instance: WebAssembly.Instance;
      try {
        instance = (await WebAssembly.instantiate(bytes, {})).instance;
      } catch (err) {
        throw new Error(`this engine cannot compile the module; ${NEEDS_SIMD}: ${(err as Error).message}`);
      }
      backend = createWasmBackend(instance);
    }
    failure = '';
  } catch (err) {
    failure = (err as Error).message;
    throw err;
  }
}

/** The wasm backend, or why not (instantiated once; later calls return the same backend). */
export function loadWasmBackend(): { backend: WasmBackend | null; reason: string } {
  if (backend) return { backend, reason: '' };
  if (failure) return { backend: null, reason: failure };
  try {
    backend = createWasmBackend(instantiateFromDisk());
    return { backend, reason: '' };
  } catch (err) {
    failure = (err as Error).message;
    return { backend: null, reason: failure };
  }
}
