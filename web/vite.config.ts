import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// `npm run build:web` writes web/dist with relative asset paths, so `dsrl view` (or any static server) can serve it.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1024, reportCompressedSize: false },
});
