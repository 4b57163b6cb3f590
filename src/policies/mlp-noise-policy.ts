/**
 * A small deterministic NoisePolicy built from our MLP layers: actions = bounds(tanh(MLP([obs, noise]))).
 * Not a diffusion policy: a stand-in with the same (obs, noise) -> action-chunk contract, cheap enough for
 * tests and demos of everything that treats a policy as a black box (ONNX export/import, remote serving).
 * Browser-safe.
 */
import type { Rng } from '../core/rng.ts';
import type { Activation } from '../nn/backend.ts';
import { mlp } from '../nn/mlp.ts';
import type { Model } from '../nn/module.ts';
import { Scratch } from '../nn/module.ts';
import { checkBounds } from './expect.ts';
import { GraphBuilder, onnxLayer, policyGraphInputs, policyGraphOutput, type ModelOptions } from './onnx-writer.ts';
import { checkPolicyInputs, type NoisePolicy } from './policy.ts';

export interface MlpNoisePolicySpec {
  obsDim: number;
  actDim: number;
  chunk: number;
  hidden: number[];
  activation?: Activation;
  layerNorm?: boolean;
  actionLow: ArrayLike<number>;
  actionHigh: ArrayLike<number>;
}

export class MlpNoisePolicy implements NoisePolicy {
  readonly obsDim: number;
  readonly actDim: number;
  readonly chunk: number;
  readonly actionLow: Float32Array;
  readonly actionHigh: Float32Array;
  /** [obs, noise flattened] -> tanh output in [-1, 1]^(Ta * da). */
  readonly model: Model;
  private readonly half: Float32Array;
  private readonly mid: Float32Array;
  private readonly input = new Scratch();
  private readonly out = new Scratch();

  constructor(
    readonly spec: MlpNoisePolicySpec,
    rng: Rng,
  ) {
    const { obsDim, actDim, chunk } = spec;
    for (const [name, v] of Object.entries({ obsDim, actDim, chunk })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`MlpNoisePolicy: ${name} must be a positive integer, got ${v}`);
    }
    checkBounds(spec.actionLow, spec.actionHigh, actDim, 'MlpNoisePolicy');
    this.obsDim = obsDim;
    this.actDim = actDim;
    this.chunk = chunk;
    this.actionLow = Float32Array.from(spec.actionLow);
    this.actionHigh = Float32Array.from(spec.actionHigh);
    this.model = mlp(
      {
        in: obsDim + chunk * actDim,
        hidden: spec.hidden,
        out: chunk * actDim,
        activation: spec.activation ?? 'mish',
        layerNorm: spec.layerNorm,
        outActivation: 'tanh',
      },
      rng,
    );
    this.half = new Float32Array(actDim);
    this.mid = new Float32Array(actDim);
    for (let j = 0; j < actDim; j++) {
      this.half[j] = 0.5 * (this.actionHigh[j] - this.actionLow[j]);
      this.mid[j] = 0.5 * (this.actionHigh[j] + this.actionLow[j]);
    }
  }

  /** actions[B, Ta, da] in env units; returns a view reused by the next call. */
  act(obs: Float32Array, noise: Float32Array, batch: number): Float32Array {
    checkPolicyInputs(this, obs, noise, batch);
    const { obsDim, actDim } = this;
    const xDim = this.chunk * actDim;
    const inDim = obsDim + xDim;
    const input = this.input.get(batch * inDim);
    for (let r = 0; r < batch; r++) {
      input.set(obs.subarray(r * obsDim, (r + 1) * obsDim), r * inDim);
      input.set(noise.subarray(r * xDim, (r + 1) * xDim), r * inDim + obsDim);
    }
    const y = this.model.forward(input, batch);
    const out = this.out.get(batch * xDim);
    // Float32 multiply then add, as the ONNX graph (Mul, Add) does, so both agree to the last bit or so.
    for (let i = 0; i < out.length; i++) {
      const j = i % actDim;
      out[i] = Math.fround(this.half[j] * y[i]) + this.mid[j];
    }
    return out;
  }

  /** The same function as an ONNX graph with the obs/noise -> actions contract. */
  toOnnx(options: ModelOptions = {}): Uint8Array {
    const g = new GraphBuilder();
    const { obs, noiseFlat } = policyGraphInputs(g, this);
    const input = g.op('Concat', [obs, noiseFlat], { axis: { i: 1 } }, 'obs_noise');
    const y = onnxLayer(g, this.model.root, input, 'mlp');
    policyGraphOutput(g, y, this, this.actionLow, this.actionHigh);
    return g.toBytes({ graphName: 'dsrl_mlp_noise_policy', ...options });
  }
}
