/** MLP builders: the plain MLP used by SAC actors and critics, and the residual MLP of diffusion policies. */
import type { Rng } from '../core/rng.ts';
import type { Activation } from './backend.ts';
import { Act, Dense, LayerNorm, Linear, Residual, Sequential } from './layers.ts';
import { Model, type Layer } from './module.ts';

export interface MlpSpec {
  in: number;
  /** Hidden widths, one per hidden layer (e.g. [256, 256, 256]). */
  hidden: number[];
  out: number;
  /** LayerNorm after each hidden Linear, before the activation (as in the DSRL reference critics). */
  layerNorm?: boolean;
  activation?: Activation;
  /** Activation on the output layer (default identity). */
  outActivation?: Activation;
}

/** Layers of an MLP: hidden Dense blocks (Linear [+ LayerNorm] + activation), then an output Dense. */
export function mlpLayers(spec: MlpSpec): Sequential {
  const act = spec.activation ?? 'relu';
  const layers: Layer[] = [];
  let prev = spec.in;
  for (const width of spec.hidden) {
    layers.push(new Dense(prev, width, { layerNorm: spec.layerNorm ?? false, activation: act }));
    prev = width;
  }
  layers.push(new Dense(prev, spec.out, { activation: spec.outActivation ?? 'identity' }));
  return new Sequential(...layers);
}

export function mlp(spec: MlpSpec, rng: Rng): Model {
  return new Model(mlpLayers(spec), rng);
}

/**
 * Pre-activation residual block (as DPPO's TwoLayerPreActivationResNetLinear):
 * y = x + L2(act([LN](L1(act([LN](x)))))).
 */
export function residualBlock(dim: number, activation: Activation, layerNorm = false): Residual {
  const body: Layer[] = [];
  if (layerNorm) body.push(new LayerNorm(dim));
  body.push(new Act(dim, activation), new Linear(dim, dim));
  if (layerNorm) body.push(new LayerNorm(dim));
  body.push(new Act(dim, activation), new Linear(dim, dim));
  return new Residual(new Sequential(...body));
}

export interface ResidualMlpSpec {
  in: number;
  width: number;
  /** Number of residual blocks. */
  blocks: number;
  out: number;
  activation?: Activation;
  layerNorm?: boolean;
}

/** Linear(in -> width), residual blocks, activation, Linear(width -> out). */
export function residualMlpLayers(spec: ResidualMlpSpec): Sequential {
  const act = spec.activation ?? 'mish';
  const layers: Layer[] = [new Linear(spec.in, spec.width)];
  for (let i = 0; i < spec.blocks; i++) layers.push(residualBlock(spec.width, act, spec.layerNorm ?? false));
  layers.push(new Act(spec.width, act), new Linear(spec.width, spec.out));
  return new Sequential(...layers);
}
