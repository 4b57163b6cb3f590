/**
 * The replay buffer's input checks (replay-buffer.ts): shapes, field names and float32-finite values, each
 * failing with an error that names the array, the row and the fix. Core module: no Node imports.
 */
import type { FieldDims, SampledBatch } from './replay-buffer.ts';

/** What the checks need to know of a buffer. */
export interface BufferDims {
  readonly obsDim: number;
  readonly actionDim: number;
  readonly fieldDims: Readonly<FieldDims>;
}

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CORE_NAMES = new Set(['obs', 'actions', 'rewards', 'nextObs', 'terminated', 'truncated', 'indices']);

export function checkDim(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`ReplayBuffer: ${what} must be an integer >= ${min}, got ${value}`);
}

export function checkFields(fields: FieldDims): void {
  for (const [name, dim] of Object.entries(fields)) {
    if (!FIELD_NAME.test(name)) throw new Error(`ReplayBuffer: field name "${name}" must match ${FIELD_NAME}`);
    if (CORE_NAMES.has(name)) throw new Error(`ReplayBuffer: field name "${name}" is reserved`);
    checkDim(`fields.${name}`, dim, 1);
  }
}

/** Row `row` (of width `dim`) of `src` holds only values finite in float32. */
export function checkFiniteRow(what: string, src: ArrayLike<number>, row: number, dim: number): void {
  const off = row * dim;
  for (let j = 0; j < dim; j++) {
    const v = src[off + j];
    // Through fround: a huge double would become Infinity once stored as float32.
    if (!Number.isFinite(Math.fround(v))) {
      const where = dim === 1 ? `[${row}]` : `[${row}, ${j}]`;
      throw new Error(`ReplayBuffer: ${what}${where} is ${v}; only values finite in float32 can be stored`);
    }
  }
}

export function checkLength(what: string, src: ArrayLike<number | boolean> | undefined, expected: number, rows?: number): void {
  if (src === undefined || src === null || typeof src.length !== 'number') throw new Error(`ReplayBuffer: ${what} is missing`);
  if (src.length !== expected) {
    const shape = rows === undefined ? `${expected}` : `${rows} rows (${expected} values)`;
    throw new Error(`ReplayBuffer: ${what} has ${src.length} values, expected ${shape}`);
  }
}

/** `fields` names exactly the buffer's declared fields, each with `rows` rows. */
export function checkFieldKeys(dims: BufferDims, fields: Record<string, ArrayLike<number>>, rows: number): void {
  const names = Object.keys(dims.fieldDims);
  for (const name of Object.keys(fields)) {
    if (!(name in dims.fieldDims)) throw new Error(`ReplayBuffer: unknown field "${name}" (declared: ${names.join(', ') || 'none'})`);
  }
  for (const name of names) checkLength(`fields.${name}`, fields[name], rows * dims.fieldDims[name], rows === 1 ? undefined : rows);
}

/** `out` was made by this buffer's createBatch (or has the same shapes). */
export function checkBatch(dims: BufferDims, out: SampledBatch): void {
  const B = out.batchSize;
  const ok =
    out.indices.length === B && out.obs.length === B * dims.obsDim && out.actions.length === B * dims.actionDim &&
    out.rewards.length === B && out.nextObs.length === B * dims.obsDim && out.terminated.length === B &&
    out.truncated.length === B && Object.entries(dims.fieldDims).every(([name, dim]) => out.fields[name]?.length === B * dim);
  if (!ok) throw new Error('ReplayBuffer: output batch does not match this buffer; make it with buffer.createBatch(batchSize)');
}
