import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const page = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/**
 * The toy's worker imports the core's env registry, whose MuJoCo envs are loaded on demand; bundled, they would
 * add MuJoCo's 10 MB wasm to the static site for pages that never make one. Here each of them is a module that
 * fails with this reason if it is ever imported (in the pages and, built apart, the worker).
 */
function noMujoco(): Plugin {
  const STUB = '\0dsrl-no-mujoco';
  return {
    name: 'dsrl-no-mujoco-in-worker',
    // Before Vite's own resolver, which would resolve the path first.
    enforce: 'pre',
    resolveId(id, importer) {
      return importer?.replaceAll('\\', '/').endsWith('/src/envs/registry.ts') && id.startsWith('./mujoco/') ? STUB : null;
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
    // The viewer, and the page that trains the toy in a Web Worker.
    rolldownOptions: { input: { index: page('index.html'), toy: page('toy.html') } },
  },
  plugins: [noMujoco()],
  worker: { format: 'es', plugins: () => [noMujoco()] },
});
