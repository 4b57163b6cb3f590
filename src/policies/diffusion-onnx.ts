/**
 * The diffusion policy as one ONNX graph with the policy contract (obs, noise -> actions): observation
 * normalization, the S-step DDIM loop unrolled (eta = 0, x0 clamped to [-1, 1]), and the map from
 * [-1, 1] to the env's action bounds. It computes what DiffusionPolicy.act computes, in the same order:
 *
 * - The first Linear on [x_t, temb(t), obs] is split as in DiffusionPolicy.denoise: W_obs obs_norm once,
 *   then per step W_x x_t + (W_t temb(t_k) + b_in), where the time term is a constant per step (the time
 *   embedding depends only on the fixed DDIM timesteps, so the time MLP never appears in the graph).
 * - Network weights are shared initializers across the unrolled steps, so the file is about the size
 *   of the weights however many steps there are.
 *
 * Browser-safe (no Node imports): the bytes can be downloaded from a page as well as written to disk.
 */
import type { Linear } from '../nn/layers.ts';
import type { DiffusionMlp, PreActResidualBlock } from './diffusion/network.ts';
import { ObsNormalizer } from './diffusion/normalization.ts';
import type { DiffusionPolicy } from './diffusion/policy.ts';
import { GraphBuilder, onnxActivation, policyGraphInputs, policyGraphOutput, type ModelOptions } from './onnx-writer.ts';

/** Columns [from, from + count) of a row-major [rows, cols] matrix. */
function columns(m: Float32Array, rows: number, cols: number, from: number, count: number): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * cols + from, r * cols + from + count), r * count);
  return out;
}

export function diffusionPolicyOnnx(policy: DiffusionPolicy, options: ModelOptions = {}): Uint8Array {
  const { spec, plan } = policy;
  const { obsDim, actDim, chunk, width, timeDim } = spec;
  const xDim = chunk * actDim;
  const net = policy.network.root as DiffusionMlp;
  const layers = net.body.layers;
  const input = layers[0] as Linear;
  const output = layers[layers.length - 1] as Linear;
  const blocks = layers.slice(1, -1) as PreActResidualBlock[];
  const catDim = net.catDim;
  if (input.inDim !== catDim || catDim !== xDim + timeDim + obsDim) {
    throw new Error(`diffusionPolicyOnnx: unexpected network layout (input width ${input.inDim}, expected ${xDim} + ${timeDim} + ${obsDim})`);
  }

  const g = new GraphBuilder();
  const { obs, noiseFlat } = policyGraphInputs(g, spec);

  // Observation normalization as the policy applies it: obs * scale + shift.
  const normalizer = new ObsNormalizer(policy.obsStats);
  const obsScaled = g.op('Mul', [obs, g.constant(normalizer.scale, [obsDim], 'obs_scale')], {}, 'obs_scaled');
  const obsNorm = g.op('Add', [obsScaled, g.constant(normalizer.shift, [obsDim], 'obs_shift')], {}, 'obs_norm');

  const w = input.weight.value;
  const wX = g.constant(columns(w, width, catDim, 0, xDim), [width, xDim], 'in.weight_x');
  const wObs = g.constant(columns(w, width, catDim, xDim + timeDim, obsDim), [width, obsDim], 'in.weight_obs');
  const obsTerm = g.op('Gemm', [obsNorm, wObs], { transB: { i: 1 } }, 'obs_term');

  // Per-step constants W_t temb(t_k) + b_in, from the network's own time embedding.
  const steps = plan.timesteps.length;
  const temb = net.timeEmbedding.forward(Float32Array.from(plan.timesteps), steps);
  const timeBias: string[] = [];
  for (let k = 0; k < steps; k++) {
    const row = new Float32Array(width);
    for (let o = 0; o < width; o++) {
      let s = 0;
      for (let i = 0; i < timeDim; i++) s += w[o * catDim + xDim + i] * temb[k * timeDim + i];
      row[o] = Math.fround(s) + input.bias.value[o];
    }
    timeBias.push(g.constant(row, [width], `time_bias.t${plan.timesteps[k]}`));
  }

  const gemm = (x: string, weight: string, bias: string, hint: string) => g.op('Gemm', [x, weight, bias], { transB: { i: 1 } }, hint);
  const blockWeights = blocks.map((b, i) => ({
    w1: g.constant(b.l1.weight.value, [width, width], `block${i}.l1.weight`),
    b1: g.constant(b.l1.bias.value, [width], `block${i}.l1.bias`),
    w2: g.constant(b.l2.weight.value, [width, width], `block${i}.l2.weight`),
    b2: g.constant(b.l2.bias.value, [width], `block${i}.l2.bias`),
  }));
  const wOut = g.constant(output.weight.value, [xDim, width], 'out.weight');
  const bOut = g.constant(output.bias.value, [xDim], 'out.bias');
  const minusOne = g.scalar(-1, 'minus_one');
  const one = g.scalar(1, 'one');

  let x = noiseFlat;
  for (let k = 0; k < steps; k++) {
    const tag = `s${k}`;
    let h = g.op('Add', [gemm(x, wX, timeBias[k], `${tag}.in_x`), obsTerm], {}, `${tag}.h0`);
    blockWeights.forEach((b, i) => {
      const a1 = onnxActivation(g, h, 'mish', `${tag}.b${i}.act1`);
      const a2 = onnxActivation(g, gemm(a1, b.w1, b.b1, `${tag}.b${i}.l1`), 'mish', `${tag}.b${i}.act2`);
      h = g.op('Add', [h, gemm(a2, b.w2, b.b2, `${tag}.b${i}.l2`)], {}, `${tag}.h${i + 1}`);
    });
    const eps = gemm(h, wOut, bOut, `${tag}.eps`);

    // DDIM (eta = 0): x0 = clip((x - sqrt(1-a) eps) / sqrt(a)); eps' = (x - sqrt(a) x0) / sqrt(1-a);
    // x <- sqrt(a_prev) x0 + sqrt(1-a_prev) eps'. Coefficients as in ddimUpdate.
    const sA = plan.sqrtAlpha[k];
    const s1mA = plan.sqrtOneMinusAlpha[k];
    const sAPrev = plan.sqrtAlphaPrev[k];
    const s1mAPrev = plan.sqrtOneMinusAlphaPrev[k];
    const residual = g.op('Sub', [x, g.op('Mul', [eps, g.scalar(s1mA, `${tag}.sqrt_1m_a`)], {}, `${tag}.eps_scaled`)], {}, `${tag}.x_minus_eps`);
    const x0Raw = g.op('Mul', [residual, g.scalar(1 / sA, `${tag}.inv_sqrt_a`)], {}, `${tag}.x0_raw`);
    const x0 = g.op('Clip', [x0Raw, minusOne, one], {}, `${tag}.x0`);
    if (s1mAPrev === 0 && sAPrev === 1) {
      x = x0; // the last step lands on the clean sample
      continue;
    }
    const epsNew = g.op(
      'Mul',
      [
        g.op('Sub', [x, g.op('Mul', [x0, g.scalar(sA, `${tag}.sqrt_a`)], {}, `${tag}.x0_scaled`)], {}, `${tag}.x_minus_x0`),
        g.scalar(1 / s1mA, `${tag}.inv_sqrt_1m_a`),
      ],
      {},
      `${tag}.eps_new`,
    );
    x = g.op(
      'Add',
      [
        g.op('Mul', [x0, g.scalar(sAPrev, `${tag}.sqrt_a_prev`)], {}, `${tag}.x0_prev`),
        g.op('Mul', [epsNew, g.scalar(s1mAPrev, `${tag}.sqrt_1m_a_prev`)], {}, `${tag}.eps_prev`),
      ],
      {},
      `${tag}.x_next`,
    );
  }
  policyGraphOutput(g, x, spec, policy.actionLow, policy.actionHigh, { clip: true });
  return g.toBytes({
    graphName: 'dsrl_diffusion_policy',
    docString: `dsrl diffusion policy: obs [B, ${obsDim}], noise [B, ${chunk}, ${actDim}] -> actions [B, ${chunk}, ${actDim}] (env units); DDIM eta 0, ${steps} steps of T=${spec.denoisingSteps}, unrolled`,
    ...options,
    metadata: {
      obsDim: String(obsDim),
      actDim: String(actDim),
      chunk: String(chunk),
      denoisingSteps: String(spec.denoisingSteps),
      ddimSteps: String(spec.ddimSteps),
      ...options.metadata,
    },
  });
}
