// Entry of the learner's worker thread (Node only; src/node/learner-worker.ts). Node cannot load .ts files by
// itself: when the parent passed no TypeScript loader down to the worker, register tsx's ESM hooks here, as
// src/envs/vector-worker-bootstrap.mjs does.
try {
  await import('./learner-thread.ts');
} catch (err) {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  const { register } = await import('tsx/esm/api');
  register();
  await import('./learner-thread.ts?tsx');
}
