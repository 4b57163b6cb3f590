/**
 * The Web Worker that trains the bimodal toy (src/web/toy-training.ts) off the page's thread, on the fastest NN
 * backend that loads here (the WebAssembly SIMD one, else the TypeScript one; `backend: 'js'` forces the latter).
 * Messages in: `{type: 'start', config, backend}`, `{type: 'pause'}`, `{type: 'resume'}`; out: `{type: 'progress', progress, paused}`
 * (at most every 100 ms, and at each change of phase or pause), `{type: 'done', result, seconds}`,
 * `{type: 'error', message}`. Training yields to the worker's messages every ~30 ms of work, and a pause holds it
 * at the next yield; neither changes what is computed.
 */
import { jsBackend, prepareBackend, setBackend } from '../../src/nn/backend.ts';
import { TOY_PAGE_CONFIG, trainToy, type ToyConfig, type ToyProgress } from '../../src/web/toy-training.ts';

export type ToyWorkerIn = { type: 'start'; config?: Partial<ToyConfig>; backend?: 'auto' | 'js' } | { type: 'pause' } | { type: 'resume' };
export type ToyWorkerOut =
  | { type: 'progress'; progress: ToyProgress; paused: boolean }
  | { type: 'done'; result: Awaited<ReturnType<typeof trainToy>>; seconds: number }
  | { type: 'error'; message: string };

// The worker's global scope, typed without the WebWorker lib (which cannot be combined with the page's DOM lib).
const scope = self as unknown as { postMessage(m: ToyWorkerOut): void; onmessage: ((e: MessageEvent<ToyWorkerIn>) => void) | null };

let started = false;
let paused = false;
let resume: (() => void) | null = null;
let lastPost = 0;
let lastYield = 0;
let lastPhase = '';

const post = (progress: ToyProgress) => scope.postMessage({ type: 'progress', progress, paused });

async function hold(progress: () => ToyProgress): Promise<void> {
  const now = performance.now();
  const p = progress();
  if (now - lastPost >= 100 || p.phase !== lastPhase) {
    lastPost = now;
    lastPhase = p.phase;
    post(p);
  }
  if (now - lastYield >= 30) {
    // A macrotask: the worker reads its messages (a pause) before training goes on.
    await new Promise((r) => setTimeout(r, 0));
    lastYield = performance.now();
  }
  if (paused) {
    post(progress());
    await new Promise<void>((r) => (resume = r));
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'pause') paused = true;
  else if (msg.type === 'resume') {
    paused = false;
    resume?.();
    resume = null;
  } else if (msg.type === 'start' && !started) {
    started = true;
    const t0 = performance.now();
    if (msg.backend === 'js') setBackend(jsBackend);
    // prepareBackend fetches and compiles the wasm module (never throws: without it, the TypeScript backend).
    (msg.backend === 'js' ? Promise.resolve() : prepareBackend())
      .then(() => trainToy({ ...TOY_PAGE_CONFIG, ...msg.config }, { yield: hold }))
      .then(
        (result) => scope.postMessage({ type: 'done', result, seconds: (performance.now() - t0) / 1000 }),
        (err: unknown) => scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
      );
  }
};
