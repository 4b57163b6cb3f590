/**
 * The remote env wire protocol (version 1), documented in docs/remote-env.md. The robot side is the
 * WebSocket server; dsrl connects as a client. Every message is one UTF-8 JSON text message.
 *
 * JSON rather than binary frames: a chunk is k x actDim numbers (tens to a few hundred) and a reply one
 * observation, so a message is a few kB that parses in microseconds, far below a robot's control period;
 * every robot stack can read JSON without our framing code; and a float32 written with the shortest
 * round-trip repr (Python's json, JS's JSON) reads back bit for bit. JSON cannot carry NaN, so a NaN the
 * robot side writes (Python writes a bare `NaN`) is caught and named rather than parsed.
 *
 * Browser-safe: no Node imports.
 */
import { Box } from '../spaces.ts';

export const REMOTE_ENV_PROTOCOL_VERSION = 1;

export interface WorkspaceBox {
  /** Indices of the per-step action that are end-effector position targets (default: the first low.length). */
  indices: number[];
  low: number[];
  high: number[];
}

export interface RemoteEnvHello {
  version: number;
  /** The env's name on the robot side (free text, used in messages). */
  env: string;
  observationSpace: Box;
  /** One step's action space. */
  actionSpace: Box;
  /** The chunk length the robot executes, when it insists on one. */
  chunk: number | null;
  workspace: WorkspaceBox | null;
  /** The robot's control rate (informative). */
  controlHz: number | null;
}

export interface RemoteResetReply {
  id: number;
  obs: Float32Array;
  info: Record<string, unknown>;
}

export interface RemoteStepReply extends RemoteResetReply {
  reward: number;
  terminated: boolean;
  truncated: boolean;
  steps: number;
}

export type RemoteServerMessage =
  | { type: 'hello'; hello: RemoteEnvHello }
  | ({ type: 'reset' } & RemoteResetReply)
  | ({ type: 'step' } & RemoteStepReply)
  | { type: 'error'; id: number | null; code: string; message: string };

/** A reply that breaks the protocol; the message is one line naming the field. */
export class RemoteEnvProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteEnvProtocolError';
  }
}

const NON_FINITE = '__dsrl_non_finite__:';

/**
 * JSON.parse that survives the bare NaN / Infinity tokens Python's json writes, turning them into marker
 * strings so the field check below can name where they were.
 */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    const patched = text.replace(/([:\[,]\s*)(-?(?:NaN|Infinity))(?=\s*[,\]}])/g, (_m, pre: string, tok: string) => `${pre}"${NON_FINITE}${tok}"`);
    try {
      return JSON.parse(patched);
    } catch {
      throw new RemoteEnvProtocolError(`${what}: not valid JSON (${(first as Error).message})`);
    }
  }
}

function fail(what: string, field: string, why: string): never {
  throw new RemoteEnvProtocolError(`${what}: field '${field}' ${why}`);
}

function describe(v: unknown): string {
  if (typeof v === 'string' && v.startsWith(NON_FINITE)) return v.slice(NON_FINITE.length);
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return v === null ? 'null' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

function finite(obj: Record<string, unknown>, key: string, what: string, field = key): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(what, field, `must be a finite number, got ${describe(v)}`);
  return v;
}

function finiteArray(v: unknown, what: string, field: string, length?: number): number[] {
  if (!Array.isArray(v)) fail(what, field, `must be an array of numbers, got ${describe(v)}`);
  if (length !== undefined && v.length !== length) fail(what, field, `must have ${length} values, got ${v.length}`);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(what, `${field}[${i}]`, `must be a finite number, got ${describe(x)}`);
  });
  return v as number[];
}

/** A bound array where null stands for an infinite bound (JSON has no Infinity). */
function boundArray(v: unknown, what: string, field: string, inf: number): number[] {
  if (!Array.isArray(v) || v.length === 0) fail(what, field, `must be a non-empty array of numbers or nulls, got ${describe(v)}`);
  return v.map((x, i) => {
    if (x === null) return inf;
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(what, `${field}[${i}]`, `must be a finite number or null (unbounded), got ${describe(x)}`);
    return x;
  });
}

function object(v: unknown, what: string, field: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(what, field, `must be an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function boolean(obj: Record<string, unknown>, key: string, what: string): boolean {
  if (typeof obj[key] !== 'boolean') fail(what, key, `must be true or false, got ${describe(obj[key])}`);
  return obj[key] as boolean;
}

function integer(obj: Record<string, unknown>, key: string, what: string, min: number): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(what, key, `must be an integer >= ${min}, got ${describe(v)}`);
  return v;
}

function space(v: unknown, what: string, field: string): Box {
  const s = object(v, what, field);
  const low = boundArray(s.low, what, `${field}.low`, -Infinity);
  const high = boundArray(s.high, what, `${field}.high`, Infinity);
  if (high.length !== low.length) fail(what, `${field}.high`, `has ${high.length} values, low has ${low.length}`);
  low.forEach((lo, i) => {
    if (lo > high[i]) fail(what, `${field}.low[${i}]`, `is above high (${lo} > ${high[i]})`);
  });
  return new Box(low, high);
}

function parseHello(m: Record<string, unknown>, what: string): RemoteEnvHello {
  const version = m.version;
  if (version !== REMOTE_ENV_PROTOCOL_VERSION)
    fail(what, 'version', `must be ${REMOTE_ENV_PROTOCOL_VERSION} (the version this dsrl speaks), got ${describe(version)}`);
  const spaces = object(m.spaces, what, 'spaces');
  const observationSpace = space(spaces.observation, what, 'spaces.observation');
  const actionSpace = space(spaces.action, what, 'spaces.action');
  if (!actionSpace.isBounded()) fail(what, 'spaces.action', 'must have finite bounds (dsrl clips actions to them before they leave)');
  let chunk: number | null = null;
  if (m.chunk !== undefined && m.chunk !== null) chunk = integer(m, 'chunk', what, 1);
  let workspace: WorkspaceBox | null = null;
  if (m.workspace !== undefined && m.workspace !== null) {
    const w = object(m.workspace, what, 'workspace');
    const low = finiteArray(w.low, what, 'workspace.low');
    const high = finiteArray(w.high, what, 'workspace.high', low.length);
    const indices = w.indices === undefined ? low.map((_, i) => i) : finiteArray(w.indices, what, 'workspace.indices', low.length);
    indices.forEach((idx, i) => {
      if (!Number.isInteger(idx) || idx < 0 || idx >= actionSpace.size)
        fail(what, `workspace.indices[${i}]`, `must be an action index in 0..${actionSpace.size - 1}, got ${idx}`);
      if (low[i] > high[i]) fail(what, `workspace.low[${i}]`, `is above high (${low[i]} > ${high[i]})`);
    });
    workspace = { indices, low, high };
  }
  const controlHz = m.controlHz === undefined || m.controlHz === null ? null : finite(m, 'controlHz', what);
  const env = typeof m.env === 'string' ? m.env : 'remote env';
  return { version, env, observationSpace, actionSpace, chunk, workspace, controlHz };
}

/**
 * Parses one message from the robot side. `obsDim` (known after the hello) checks observation lengths.
 * Throws RemoteEnvProtocolError with one line naming the field for anything unknown, malformed or non-finite.
 */
export function parseServerMessage(text: string, obsDim: number | null, what = 'remote env'): RemoteServerMessage {
  const m = object(parseJson(text, what), what, '(message)');
  const type = m.type;
  const where = `${what}: ${typeof type === 'string' ? `'${type}' message` : 'message'}`;
  switch (type) {
    case 'hello':
      return { type, hello: parseHello(m, where) };
    case 'error': {
      const id = m.id === null || m.id === undefined ? null : integer(m, 'id', where, 0);
      return {
        type,
        id,
        code: typeof m.code === 'string' ? m.code : 'error',
        message: typeof m.message === 'string' ? m.message : describe(m.message),
      };
    }
    case 'reset':
    case 'step': {
      const id = integer(m, 'id', where, 0);
      const obs = Float32Array.from(finiteArray(m.obs, where, 'obs', obsDim ?? undefined));
      const info = m.info === undefined ? {} : object(m.info, where, 'info');
      if (type === 'reset') return { type, id, obs, info };
      const reward = finite(m, 'reward', where);
      return {
        type,
        id,
        obs,
        info,
        reward,
        terminated: boolean(m, 'terminated', where),
        truncated: boolean(m, 'truncated', where),
        steps: integer(m, 'steps', where, 0),
      };
    }
    default:
      throw new RemoteEnvProtocolError(`${what}: unknown message type ${describe(type)} (expected hello, reset, step or error)`);
  }
}

/** What a step reply's info says about the actions that ran (docs/remote-env.md, "Interventions"). */
export interface ExecutedActions {
  /** The actions the robot ran, [steps] rows of actDim, when the robot side reports them (an operator's takeover). */
  rows: number[][] | null;
  /** An operator took over for at least one step of the chunk. */
  intervention: boolean;
  /** How many of the executed steps the operator drove (0..steps). */
  interventionSteps: number;
}

/**
 * Reads `info.executed_actions`, `info.intervention` and `info.intervention_steps` of a step reply (all
 * optional). Throws RemoteEnvProtocolError naming the field when one is malformed or non-finite.
 */
export function parseExecutedActions(info: Record<string, unknown>, steps: number, actDim: number, what: string): ExecutedActions {
  let rows: number[][] | null = null;
  if (info.executed_actions !== undefined && info.executed_actions !== null) {
    const v = info.executed_actions;
    if (!Array.isArray(v) || v.length !== steps)
      fail(what, 'info.executed_actions', `must be an array of ${steps} action rows (one per executed step), got ${describe(v)}`);
    rows = (v as unknown[]).map((row, i) => finiteArray(row, what, `info.executed_actions[${i}]`, actDim));
  }
  let intervention = false;
  if (info.intervention !== undefined) {
    if (typeof info.intervention !== 'boolean') fail(what, 'info.intervention', `must be true or false, got ${describe(info.intervention)}`);
    intervention = info.intervention;
  }
  let interventionSteps = intervention ? steps : 0;
  if (info.intervention_steps !== undefined) {
    const n = info.intervention_steps;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > steps)
      fail(what, 'info.intervention_steps', `must be an integer in 0..${steps} (the steps that ran), got ${describe(n)}`);
    interventionSteps = n;
    if (interventionSteps > 0 && !intervention) fail(what, 'info.intervention', `must be true when info.intervention_steps is ${interventionSteps}`);
  }
  if (intervention && rows === null) fail(what, 'info.executed_actions', 'is required with info.intervention (the actions the operator ran)');
  return { rows, intervention, interventionSteps };
}

export function encodeReset(id: number, seed: number | undefined): string {
  return JSON.stringify(seed === undefined ? { type: 'reset', id } : { type: 'reset', id, seed });
}

export function encodeStep(id: number, actions: number[][]): string {
  return JSON.stringify({ type: 'step', id, actions });
}

export function encodeStop(reason: string): string {
  return JSON.stringify({ type: 'stop', reason });
}
