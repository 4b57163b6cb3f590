/**
 * The Web Worker that runs `dsrl demo` in the page (src/web/hopper-training.ts): MuJoCo's WebAssembly build
 * (@mujoco/mujoco, the same module Node runs) steps Hopper-v5, the shipped base policy models/hopper comes
 * bundled with the site (its manifest inlined, its weights an asset of this worker's chunk), and the NN engine
 * runs on the fastest backend that loads here (WebAssembly SIMD, else TypeScript; `backend: 'js'` forces the latter).
 * Messages in: `{type: 'start', config, backend}`, `{type: 'pause'}`, `{type: 'resume'}`; out: `{type: 'progress',
 * progress, paused, seconds}` (at most every 250 ms, and at each new phase, evaluation or pause; seconds of training, pauses
 * left out), `{type: 'done', result, seconds}`, `{type: 'error', message}`. A pause holds training at the next loop iteration; it never changes
 * what is computed.
 */
import manifestText from '../../models/hopper/manifest.json?raw';
import weightsUrl from '../../models/hopper/model.safetensors?url';
import { jsBackend, prepareBackend, setBackend } from '../../src/nn/backend.ts';
import { decodeSafetensors } from '../../src/nn/safetensors.ts';
import { parseManifest, policyFromTensors } from '../../src/policies/diffusion/manifest.ts';
import type { DiffusionPolicy } from '../../src/policies/diffusion/policy.ts';
import { WorkerPacer } from './worker-pacer.ts';
import { HOPPER_DEMO_CONFIG, trainHopper, type HopperConfig, type HopperProgress, type HopperResult } from '../../src/web/hopper-training.ts';

export type HopperWorkerIn = { type: 'start'; config?: Partial<HopperConfig>; backend?: 'auto' | 'js' } | { type: 'pause' } | { type: 'resume' };
export type HopperWorkerOut =
  | { type: 'progress'; progress: HopperProgress; paused: boolean; seconds: number }
  | { type: 'done'; result: HopperResult; seconds: number }
  | { type: 'error'; message: string };

// The worker's global scope, typed without the WebWorker lib (which cannot be combined with the page's DOM lib).
const scope = self as unknown as { postMessage(m: HopperWorkerOut): void; onmessage: ((e: MessageEvent<HopperWorkerIn>) => void) | null };

const MANIFEST = 'models/hopper/manifest.json';
const WEIGHTS = 'models/hopper/model.safetensors';

let started = false;
const pacer = new WorkerPacer<HopperProgress>(
  (progress) => scope.postMessage({ type: 'progress', progress, paused: pacer.paused, seconds: pacer.seconds() }),
  250,
  (p) => `${p.evals.length} ${p.phase}`,
);

/** The shipped base policy's weights and manifest, bundled at build time; the weights must be the ones the manifest records. */
async function fetchWeights(): Promise<{ bytes: Uint8Array; manifest: ReturnType<typeof parseManifest> }> {
  const response = await fetch(weightsUrl);
  if (!response.ok) throw new Error(`${WEIGHTS}: HTTP ${response.status} from ${weightsUrl}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const manifest = parseManifest(manifestText, MANIFEST);
  // SubtleCrypto exists in secure contexts only (https, or a loopback address); elsewhere the bundled pair is used as built.
  if (manifest.weights.sha256 !== null && globalThis.crypto?.subtle) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    if (hex !== manifest.weights.sha256) throw new Error(`${WEIGHTS} does not match ${MANIFEST} (SHA-256 ${hex.slice(0, 12)}...): rebuild the site`);
  }
  return { bytes, manifest };
}

/**
 * The base policy from its weights. Built only once the backend is chosen: loading computes the policy's cached
 * per-step time terms on the backend in use, so a policy built before the WebAssembly module is ready would carry
 * the TypeScript backend's roundings (and a run would differ from Node's for the same seed).
 */
function policyFrom({ bytes, manifest }: Awaited<ReturnType<typeof fetchWeights>>): DiffusionPolicy {
  const { tensors } = decodeSafetensors(bytes, WEIGHTS);
  return policyFromTensors(manifest, tensors, {
    expect: { obsDim: 11, actDim: 3 },
    manifestSource: MANIFEST,
    weightsSource: WEIGHTS,
  });
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (pacer.control(msg.type)) return;
  if (msg.type === 'start' && !started) {
    started = true;
    pacer.start();
    if (msg.backend === 'js') setBackend(jsBackend);
    // prepareBackend fetches and compiles the NN module (never throws: without it, the TypeScript backend).
    Promise.all([msg.backend === 'js' ? Promise.resolve() : prepareBackend(), fetchWeights()])
      .then(([, weights]) => trainHopper(policyFrom(weights), { ...HOPPER_DEMO_CONFIG, ...msg.config }, { yield: pacer.hold }))
      .then(
        (result) => scope.postMessage({ type: 'done', result, seconds: pacer.seconds() }),
        (err: unknown) => scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
      );
  }
};
