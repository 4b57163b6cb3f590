import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const page = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/**
 * The workers import the core's env registry, whose MuJoCo envs are loaded on demand; bundled, they would add
 * MuJoCo's 10 MB wasm to every page and worker that never makes one. Here each of them is a module that fails
 * with this reason if it is ever imported, except Hopper-v5 in the Hopper training's worker (hopper-worker.ts,
 * whose bundle alone then carries MuJoCo). Worker bundles are built one by one, each with its own plugin
 * instances (`worker.plugins` below), so an instance knows its bundle from its input.
 */
function noMujoco(): Plugin {
  const STUB = '\0dsrl-no-mujoco';
  let allowed: string[] = [];
  return {
    name: 'dsrl-no-mujoco-in-worker',
    // Before Vite's own resolver, which would resolve the path first.
    enforce: 'pre',
    options(opts) {
      allowed = JSON.stringify(opts.input ?? '').includes('hopper-worker.ts') ? ['./mujoco/hopper.ts'] : [];
    },
    resolveId(id, importer) {
      const fromRegistry = importer?.replaceAll('\\', '/').endsWith('/src/envs/registry.ts') && id.startsWith('./mujoco/');
      return fromRegistry && !allowed.includes(id) ? STUB : null;
    },
    load(id) {
      return id === STUB ? "throw new Error('MuJoCo envs are not bundled into the page (web/vite.config.ts)');" : null;
    },
  };
}

// `npm run build:web` writes web/dist with relative asset paths, so `dsrl view` (or any static server) can serve it.
export default defineConfig({
  root: page('.'),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
    reportCompressedSize: false,
    // The viewer, and the pages that train the toy and the Hopper in a Web Worker.
    rolldownOptions: { input: { index: page('index.html'), toy: page('toy.html'), hopper: page('hopper.html') } },
  },
  plugins: [noMujoco()],
  worker: { format: 'es', plugins: () => [noMujoco()] },
});
