// Entry of the view stream's worker thread (Node only; src/node/view-stream.ts). Node cannot load .ts files by
// itself: when the parent passed no TypeScript loader down to the worker, register tsx's ESM hooks here, as
// src/node/learner-thread-bootstrap.mjs does.
try {
  await import('./view-stream-thread.ts');
} catch (err) {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  const { register } = await import('tsx/esm/api');
  register();
  await import('./view-stream-thread.ts?tsx');
}
