/**
 * A small ONNX model writer: the messages ModelProto / GraphProto / NodeProto / TensorProto /
 * ValueInfoProto, a graph builder, and helpers that turn our layers (src/nn) into ONNX nodes.
 *
 * Why hand-written: exporting a policy must not need PyTorch, and npm has no ONNX *writer* that fits
 * (onnxruntime is inference-only; the protobuf-based packages ship the whole onnx.proto schema and a
 * runtime for a handful of messages we need); the wire encoding is in protobuf-writer.ts. Field numbers below are those of onnx/onnx.proto (IR version 8, opset 17).
 *
 * Browser-safe: no Node imports.
 */
import type { Activation } from '../nn/backend.ts';
import { Act, Dense, LayerNorm, LN_EPS, Residual, Sequential } from '../nn/layers.ts';
import type { Layer, Model } from '../nn/module.ts';
import { checkedInteger, ProtoWriter } from './protobuf-writer.ts';

/** ONNX IR version 8 goes with opset 17 (onnx 1.12); onnxruntime 1.30 reads both. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

// ---------------------------------------------------------------------------------------------
// ONNX messages

/** TensorProto.DataType values we use. */
export const OnnxDataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

export type Attr = { i: number } | { f: number } | { s: string } | { ints: readonly number[] } | { floats: readonly number[] };
export type Dim = number | string;

export interface TensorInit {
  name: string;
  dims: readonly number[];
  data: Float32Array | BigInt64Array;
}

function encodeTensor(t: TensorInit): ProtoWriter {
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size !== t.data.length)
    throw new Error(`onnx writer: tensor "${t.name}" has ${t.data.length} values but dims [${t.dims.join(', ')}] need ${size}`);
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d); // dims (repeated int64, unpacked is also valid)
  const isFloat = t.data instanceof Float32Array;
  w.int(2, isFloat ? OnnxDataType.FLOAT : OnnxDataType.INT64); // data_type
  w.string(8, t.name); // name
  // raw_data: fixed-width little-endian values, whatever the host's byte order.
  const raw = new Uint8Array(t.data.length * (isFloat ? 4 : 8));
  const view = new DataView(raw.buffer);
  if (t.data instanceof Float32Array) for (let i = 0; i < t.data.length; i++) view.setFloat32(i * 4, t.data[i], true);
  else for (let i = 0; i < t.data.length; i++) view.setBigInt64(i * 8, t.data[i], true);
  w.bytes(9, raw);
  return w;
}

function encodeValueInfo(name: string, dims: readonly Dim[], elemType: number): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number')
      dim.int(1, checkedInteger(d)); // dim_value
    else dim.string(2, d); // dim_param: a symbolic dim such as the batch "B"
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter();
  tensorType.int(1, elemType);
  tensorType.message(2, shape);
  const type = new ProtoWriter();
  type.message(1, tensorType); // TypeProto.tensor_type
  const vi = new ProtoWriter();
  vi.string(1, name);
  vi.message(2, type);
  return vi;
}

function encodeAttribute(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, name);
  if ('i' in a) {
    w.int(3, a.i);
    w.int(20, ATTR_INT);
  } else if ('f' in a) {
    w.float(2, a.f);
    w.int(20, ATTR_FLOAT);
  } else if ('s' in a) {
    w.string(4, a.s);
    w.int(20, ATTR_STRING);
  } else if ('ints' in a) {
    for (const v of a.ints) w.int(8, v);
    w.int(20, ATTR_INTS);
  } else {
    for (const v of a.floats) w.float(7, v);
    w.int(20, ATTR_FLOATS);
  }
  return w;
}

interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Record<string, Attr>;
}

export interface ModelOptions {
  graphName?: string;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** Free-form key/value metadata (ModelProto.metadata_props), e.g. env id and dims. */
  metadata?: Record<string, string>;
}

/**
 * Builds one ONNX graph: inputs, constant initializers, nodes (in topological order, as added) and
 * outputs. Value names are generated and unique; `op` returns the name of the node's output.
 */
export class GraphBuilder {
  private readonly inputs: { name: string; dims: Dim[]; elemType: number }[] = [];
  private readonly outputs: { name: string; dims: Dim[] }[] = [];
  private readonly initializers: TensorInit[] = [];
  private readonly nodes: NodeSpec[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  private fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** A graph input, float32 unless told (dims may be symbolic strings, e.g. "B"). */
  input(name: string, dims: Dim[], elemType: number = OnnxDataType.FLOAT): string {
    if (this.names.has(name)) throw new Error(`onnx writer: the name "${name}" is already used`);
    this.names.add(name);
    this.inputs.push({ name, dims: [...dims], elemType });
    return name;
  }

  /** Declare `value` as a float32 graph output called `name` (an Identity node renames it if needed). */
  output(value: string, name: string, dims: Dim[]): void {
    let out = value;
    if (value !== name) {
      if (this.names.has(name)) throw new Error(`onnx writer: the output name "${name}" is already used`);
      this.names.add(name);
      this.nodes.push({ opType: 'Identity', inputs: [value], outputs: [name], name: `${name}_identity`, attrs: {} });
      out = name;
    }
    this.outputs.push({ name: out, dims: [...dims] });
  }

  /** A float32 constant initializer (copied). */
  constant(data: ArrayLike<number>, dims: readonly number[], hint = 'const'): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [...dims], data: Float32Array.from(data) });
    return name;
  }

  scalar(value: number, hint = 'scalar'): string {
    return this.constant([value], [], hint);
  }

  /** An int64 constant initializer (shapes for Reshape, axes). */
  int64(values: readonly number[], hint = 'shape'): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(checkedInteger(v)))) });
    return name;
  }

  /** Add a node with one output; returns that output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, hint?: string): string {
    for (const x of inputs) {
      if (x !== '' && !this.names.has(x)) throw new Error(`onnx writer: ${opType} input "${x}" is not defined yet`);
    }
    const out = this.fresh(hint ?? opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [out], name: `${out}_node`, attrs });
    return out;
  }

  /** Serialize as an ONNX ModelProto. */
  toBytes(options: ModelOptions = {}): Uint8Array {
    if (this.outputs.length === 0) throw new Error('onnx writer: the graph has no outputs');
    const graph = new ProtoWriter();
    for (const n of this.nodes) {
      const node = new ProtoWriter();
      for (const x of n.inputs) node.string(1, x);
      for (const y of n.outputs) node.string(2, y);
      node.string(3, n.name);
      node.string(4, n.opType);
      for (const [k, a] of Object.entries(n.attrs)) node.message(5, encodeAttribute(k, a));
      graph.message(1, node);
    }
    graph.string(2, options.graphName ?? 'dsrl');
    for (const t of this.initializers) graph.message(5, encodeTensor(t));
    for (const x of this.inputs) graph.message(11, encodeValueInfo(x.name, x.dims, x.elemType));
    for (const y of this.outputs) graph.message(12, encodeValueInfo(y.name, y.dims, OnnxDataType.FLOAT));

    const model = new ProtoWriter();
    model.int(1, ONNX_IR_VERSION);
    model.string(2, options.producerName ?? 'dsrl');
    model.string(3, options.producerVersion ?? '0.1.0');
    if (options.docString) model.string(6, options.docString);
    model.message(7, graph);
    const opset = new ProtoWriter();
    opset.string(1, ''); // the default ai.onnx domain
    opset.int(2, ONNX_OPSET);
    model.message(8, opset);
    for (const [key, value] of Object.entries(options.metadata ?? {})) {
      const entry = new ProtoWriter();
      entry.string(1, key);
      entry.string(2, value);
      model.message(14, entry);
    }
    return model.finish();
  }
}

// ---------------------------------------------------------------------------------------------
// Layer helpers (shapes are [B, features] unless said otherwise)

/** y = x W^T + b with W in torch layout [out, in]: Gemm with transB = 1 keeps the weight as stored. */
export function onnxLinear(
  g: GraphBuilder,
  x: string,
  weight: Float32Array,
  bias: Float32Array | null,
  inDim: number,
  outDim: number,
  hint = 'linear',
): string {
  if (weight.length !== inDim * outDim) throw new Error(`onnxLinear: weight has ${weight.length} values, expected ${outDim} x ${inDim}`);
  const w = g.constant(weight, [outDim, inDim], `${hint}.weight`);
  const inputs = [x, w];
  if (bias) {
    if (bias.length !== outDim) throw new Error(`onnxLinear: bias has ${bias.length} values, expected ${outDim}`);
    inputs.push(g.constant(bias, [outDim], `${hint}.bias`));
  }
  return g.op('Gemm', inputs, { transB: { i: 1 } }, hint);
}

/** LayerNormalization over the last axis (opset 17 has it as one op; torch.nn.LayerNorm semantics). */
export function onnxLayerNorm(g: GraphBuilder, x: string, gamma: Float32Array, beta: Float32Array, eps: number, hint = 'ln'): string {
  const scale = g.constant(gamma, [gamma.length], `${hint}.weight`);
  const bias = g.constant(beta, [beta.length], `${hint}.bias`);
  return g.op('LayerNormalization', [x, scale, bias], { axis: { i: -1 }, epsilon: { f: eps } }, hint);
}

/** Our activations; Mish is x * tanh(softplus(x)) since the Mish op only arrives in opset 18. */
export function onnxActivation(g: GraphBuilder, x: string, activation: Activation, hint: string = activation): string {
  switch (activation) {
    case 'identity':
      return x;
    case 'relu':
      return g.op('Relu', [x], {}, hint);
    case 'tanh':
      return g.op('Tanh', [x], {}, hint);
    case 'mish': {
      const t = g.op('Tanh', [g.op('Softplus', [x], {}, `${hint}.softplus`)], {}, `${hint}.tanh`);
      return g.op('Mul', [x, t], {}, hint);
    }
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x], {}, `${hint}.sigmoid`)], {}, hint);
    default:
      throw new Error(`onnx writer: unsupported activation "${activation as string}"`);
  }
}

export function onnxAdd(g: GraphBuilder, a: string, b: string, hint = 'add'): string {
  return g.op('Add', [a, b], {}, hint);
}

/**
 * One of our layers as ONNX nodes: Dense/Linear (Gemm [+ LayerNormalization] + activation), LayerNorm,
 * activation layers, Sequential and Residual. Weights are copied into the graph as initializers.
 */
export function onnxLayer(g: GraphBuilder, layer: Layer, x: string, hint = 'layer'): string {
  if (layer instanceof Dense) {
    let y = onnxLinear(g, x, layer.weight.value, layer.bias.value, layer.inDim, layer.outDim, hint);
    if (layer.gamma && layer.beta) y = onnxLayerNorm(g, y, layer.gamma.value, layer.beta.value, LN_EPS, `${hint}.ln`);
    return onnxActivation(g, y, layer.options.activation ?? 'identity', `${hint}.act`);
  }
  if (layer instanceof LayerNorm) return onnxLayerNorm(g, x, layer.gamma.value, layer.beta.value, layer.eps, hint);
  if (layer instanceof Act) return onnxActivation(g, x, layer.activation, hint);
  if (layer instanceof Sequential) {
    let h = x;
    layer.layers.forEach((l, i) => (h = onnxLayer(g, l, h, `${hint}.${i}`)));
    return h;
  }
  if (layer instanceof Residual) return onnxAdd(g, x, onnxLayer(g, layer.body, x, `${hint}.body`), `${hint}.residual`);
  throw new Error(`onnx writer: no ONNX form for layer ${layer.constructor.name} (${hint})`);
}

export interface ModelExportOptions extends ModelOptions {
  inputName?: string;
  outputName?: string;
  /** Name of the symbolic batch dimension. */
  batchDim?: string;
}

/** A whole Model as a standalone ONNX file: input [B, in] -> output [B, out] (default names "x" and "y"). */
export function modelToOnnx(model: Model, options: ModelExportOptions = {}): Uint8Array {
  const g = new GraphBuilder();
  const batch = options.batchDim ?? 'B';
  const x = g.input(options.inputName ?? 'x', [batch, model.inDim]);
  const y = onnxLayer(g, model.root, x, 'model');
  g.output(y, options.outputName ?? 'y', [batch, model.outDim]);
  return g.toBytes(options);
}

// ---------------------------------------------------------------------------------------------
// The policy contract: obs [B, obsDim], noise [B, Ta, da] -> actions [B, Ta, da] (env units)

export const POLICY_INPUT_OBS = 'obs';
export const POLICY_INPUT_NOISE = 'noise';
export const POLICY_OUTPUT_ACTIONS = 'actions';
export const POLICY_BATCH_DIM = 'B';

export interface PolicyDims {
  obsDim: number;
  actDim: number;
  chunk: number;
}

/** Declares the contract's inputs; also returns the noise flattened to [B, Ta * da] (one chunk per row). */
export function policyGraphInputs(g: GraphBuilder, dims: PolicyDims): { obs: string; noise: string; noiseFlat: string } {
  const obs = g.input(POLICY_INPUT_OBS, [POLICY_BATCH_DIM, dims.obsDim]);
  const noise = g.input(POLICY_INPUT_NOISE, [POLICY_BATCH_DIM, dims.chunk, dims.actDim]);
  const noiseFlat = g.op('Reshape', [noise, g.int64([-1, dims.chunk * dims.actDim], 'noise_flat_shape')], {}, 'noise_flat');
  return { obs, noise, noiseFlat };
}

/**
 * Maps x [B, Ta * da] from [-1, 1] to the action bounds (optionally clipping to [-1, 1] first), reshapes
 * it to [B, Ta, da] and declares it as the `actions` output.
 */
export function policyGraphOutput(
  g: GraphBuilder,
  x: string,
  dims: PolicyDims,
  actionLow: ArrayLike<number>,
  actionHigh: ArrayLike<number>,
  options: { clip?: boolean } = {},
): void {
  const { actDim, chunk } = dims;
  let v = x;
  if (options.clip) v = g.op('Clip', [v, g.scalar(-1, 'minus_one'), g.scalar(1, 'one')], {}, 'clip_unit');
  v = g.op('Reshape', [v, g.int64([-1, chunk, actDim], 'chunk_shape')], {}, 'chunked');
  const half = new Float32Array(actDim);
  const mid = new Float32Array(actDim);
  for (let j = 0; j < actDim; j++) {
    half[j] = 0.5 * (actionHigh[j] - actionLow[j]);
    mid[j] = 0.5 * (actionHigh[j] + actionLow[j]);
  }
  const scaled = g.op('Mul', [v, g.constant(half, [actDim], 'action_half_range')], {}, 'scaled');
  const actions = g.op('Add', [scaled, g.constant(mid, [actDim], 'action_mid')], {}, 'env_units');
  g.output(actions, POLICY_OUTPUT_ACTIONS, [POLICY_BATCH_DIM, chunk, actDim]);
}
