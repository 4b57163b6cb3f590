/**
 * The Web Worker that trains the bimodal toy (src/web/toy-training.ts) off the page's thread, on the fastest NN
 * backend that loads here (the WebAssembly SIMD one, else the TypeScript one; `backend: 'js'` forces the latter).
 * Messages in: `{type: 'start', config, backend}`, `{type: 'pause'}`, `{type: 'resume'}`; out: `{type: 'progress', progress, paused}`
 * (at most every 100 ms, and at each change of phase or pause), `{type: 'done', result, seconds}`,
 * `{type: 'error', message}`. Training yields to the worker's messages every ~30 ms of work, and a pause holds it
 * at the next yield; neither changes what is computed.
 */
import { jsBackend, prepareBackend, setBackend } from '../../src/nn/backend.ts';
import { WorkerPacer } from './worker-pacer.ts';
import { TOY_PAGE_CONFIG, trainToy, type ToyConfig, type ToyProgress } from '../../src/web/toy-training.ts';

export type ToyWorkerIn = { type: 'start'; config?: Partial<ToyConfig>; backend?: 'auto' | 'js' } | { type: 'pause' } | { type: 'resume' };
export type ToyWorkerOut =
  | { type: 'progress'; progress: ToyProgress; paused: boolean }
  | { type: 'done'; result: Awaited<ReturnType<typeof trainToy>>; seconds: number }
  | { type: 'error'; message: string };

// The worker's global scope, typed without the WebWorker lib (which cannot be combined with the page's DOM lib).
const scope = self as unknown as { postMessage(m: ToyWorkerOut): void; onmessage: ((e: MessageEvent<ToyWorkerIn>) => void) | null };

let started = false;
const pacer = new WorkerPacer<ToyProgress>(
  (progress) => scope.postMessage({ type: 'progress', progress, paused: pacer.paused }),
  100,
  (p) => p.phase,
);

scope.onmessage = (e) => {
  const msg = e.data;
  if (pacer.control(msg.type)) return;
  if (msg.type === 'start' && !started) {
    started = true;
    const t0 = performance.now();
    if (msg.backend === 'js') setBackend(jsBackend);
    // prepareBackend fetches and compiles the wasm module (never throws: without it, the TypeScript backend).
    (msg.backend === 'js' ? Promise.resolve() : prepareBackend())
      .then(() => trainToy({ ...TOY_PAGE_CONFIG, ...msg.config }, { yield: pacer.hold }))
      .then(
        (result) => scope.postMessage({ type: 'done', result, seconds: (performance.now() - t0) / 1000 }),
        (err: unknown) => scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
      );
  }
};
