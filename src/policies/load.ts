/**
 * One entry point for every kind of base policy, so any `--policy <spec>` flag accepts all of them:
 *   - `ws://host:port` or `wss://...`: a remote policy server (remote.ts)
 *   - `path/to/model.onnx`: an ONNX export (onnx.ts)
 *   - a folder holding manifest.json + model.safetensors (or that manifest.json): a native diffusion
 *     checkpoint (diffusion/checkpoint-io.ts)
 * Each backend is imported on demand, so e.g. serving a checkpoint never loads onnxruntime. Node only.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkPolicyMatches, type PolicyExpectation } from './expect.ts';
import type { NoisePolicy } from './policy.ts';
import { isWebSocketUrl } from '../core/url.ts';

export type PolicyKind = 'remote' | 'onnx' | 'checkpoint';

export interface LoadPolicyOptions {
  /** What the env needs (dims, chunk, bounds): checked at load, with errors naming both sides. */
  expect?: PolicyExpectation;
  /** Remote: connect and per-request timeout (ms). */
  timeoutMs?: number;
  /** Remote: reconnect attempts. */
  retries?: number;
  /** Remote: the server's token (default: the DSRL_TOKEN environment variable). */
  token?: string;
  /** ONNX: onnxruntime intra-op threads. */
  threads?: number;
  /** Checkpoint: sample with the raw weights instead of the EMA ones. */
  useRaw?: boolean;
}

const CHECKPOINT_MANIFEST = 'manifest.json';

/** Which loader a spec goes to; throws a message listing the accepted forms when none fits. */
export function policyKind(spec: string): PolicyKind {
  if (isWebSocketUrl(spec)) return 'remote';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new Error(`--policy ${spec}: unsupported URL scheme (remote policies use ws:// or wss://)`);
  if (/\.onnx$/i.test(spec)) return 'onnx';
  if (!existsSync(spec))
    throw new Error(`--policy ${spec}: no such file or folder (expected a .onnx file, a ws:// URL or a diffusion checkpoint folder)`);
  const isDir = statSync(spec).isDirectory();
  if (isDir && existsSync(join(spec, CHECKPOINT_MANIFEST))) return 'checkpoint';
  if (!isDir && basename(spec) === CHECKPOINT_MANIFEST) return 'checkpoint';
  throw new Error(
    `--policy ${spec}: not a policy dsrl can load: expected a .onnx file, a ws:// URL, or a diffusion checkpoint folder with ${CHECKPOINT_MANIFEST}` +
      (isDir ? ` (${spec} has none)` : ''),
  );
}

export async function loadPolicy(spec: string, options: LoadPolicyOptions = {}): Promise<NoisePolicy> {
  const expect = options.expect;
  switch (policyKind(spec)) {
    case 'remote': {
      const { connectRemotePolicy } = await import('./remote.ts');
      const token = options.token ?? (process.env.DSRL_TOKEN || undefined);
      return connectRemotePolicy(spec, { expect, timeoutMs: options.timeoutMs, retries: options.retries, token });
    }
    case 'onnx': {
      const { loadOnnxPolicy } = await import('./onnx.ts');
      return loadOnnxPolicy(spec, { expect, threads: options.threads });
    }
    case 'checkpoint': {
      const io = await importCheckpointIo(spec);
      const { policy, manifest } = io.loadDiffusionCheckpoint(spec, {
        expect: { obsDim: expect?.obsDim, actDim: expect?.actDim },
        useRaw: options.useRaw,
      });
      checkPolicyMatches({ ...policy, obsDim: policy.obsDim, actDim: policy.actDim, chunk: policy.chunk, envId: manifest.envId }, expect, spec); // chunk, env id, bounds too
      return policy;
    }
  }
}

/** The diffusion checkpoint reader, or a clear error when this build does not have it. */
async function importCheckpointIo(spec: string): Promise<typeof import('./diffusion/checkpoint-io.ts')> {
  try {
    return await import('./diffusion/checkpoint-io.ts');
  } catch (err) {
    throw new Error(`--policy ${spec}: native diffusion checkpoints are not available in this build (${(err as Error).message})`);
  }
}
