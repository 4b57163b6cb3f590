/**
 * Node-only adapter that loads the native addon. It reaches Node's `module` builtin through
 * `process.getBuiltinModule` (Node >= 20.16) instead of a static import, so this file, and the
 * whole nn/ module, also loads unchanged in a browser, where it simply reports "not running in Node".
 */
import type { Backend } from './backend.ts';

interface NativeAddon {
  gemm: Backend['gemm'];
  biasAct: Backend['biasAct'];
  biasActBackward: Backend['biasActBackward'];
  lnActForward: Backend['lnActForward'];
  lnActBackward: Backend['lnActBackward'];
  adam: Backend['adam'];
  axpby: Backend['axpby'];
  sumSquares: Backend['sumSquares'];
  setThreads(n: number): number;
}

let addon: NativeAddon | null = null;

export function loadNativeBackend(): { backend: Backend | null; reason: string } {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown; versions?: { node?: string } } })
    .process;
  if (!proc?.versions?.node || typeof proc.getBuiltinModule !== 'function') {
    return { backend: null, reason: 'not running in Node' };
  }
  try {
    const { createRequire } = proc.getBuiltinModule('node:module') as typeof import('node:module');
    const require = createRequire(import.meta.url);
    addon = require('../../native/build/Release/dsrl_native.node') as NativeAddon;
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    return { backend: null, reason: `addon not built or not loadable (${msg}); run \`npm run build:native\`` };
  }
  const a = addon;
  const backend: Backend = {
    name: 'native',
    gemm: a.gemm,
    biasAct: a.biasAct,
    biasActBackward: a.biasActBackward,
    lnActForward: a.lnActForward,
    lnActBackward: a.lnActBackward,
    adam: a.adam,
    axpby: a.axpby,
    sumSquares: a.sumSquares,
  };
  return { backend, reason: '' };
}

/** OpenBLAS threads for the native backend (n <= 0 just reads). Returns the count in force, or 0 without the addon. */
export function nativeThreads(n = 0): number {
  return addon ? addon.setThreads(n) : 0;
}
