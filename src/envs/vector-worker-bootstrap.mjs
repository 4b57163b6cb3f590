// Entry of each vector-env worker thread (Node only). Node cannot load .ts files by itself: when the parent
// passed no TypeScript loader down to the worker (vitest, plain `node`), register tsx's ESM hooks here.
// Under `tsx` or `node --import tsx` the worker inherits the loader and the first import succeeds.
try {
  await import('./vector-worker-thread.ts');
} catch (err) {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  const { register } = await import('tsx/esm/api');
  register();
  await import('./vector-worker-thread.ts?tsx');
}
