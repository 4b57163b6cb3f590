/**
 * An operator's takeover from the page (docs/operator.md, "Taking over from the page"): while the person
 * holds the dead-man key or button, the page streams its teleop action every 50 ms; this module checks
 * each one and keeps the newest with its time. A takeover ends when the page says so (action null), when
 * its page closes, on an emergency stop, or by itself when its newest action is older than `timeoutMs`
 * (the page vanished, froze or lost its link), so a dead page can never keep driving the robot.
 * One page at a time: another page's teleop is refused while a takeover is fresh. Browser-safe, no
 * timers: the age is checked whenever the action is read (Operator.takeoverAction).
 */

/** One step's action space, as the page needs it to map keys and sticks to values. */
export interface TeleopSpace {
  low: number[];
  high: number[];
}

/** 5 periods of the page's 50 ms stream: a few late messages are tolerated, a dead page stops within 0.25 s. */
export const TELEOP_TIMEOUT_MS = 250;

/** Checks one teleop action against the space; returns it as numbers or throws one line naming the problem. */
export function checkTeleopAction(action: unknown, space: TeleopSpace): number[] {
  const d = space.low.length;
  if (!Array.isArray(action)) throw new Error(`the action must be an array of ${d} numbers (or null to end the takeover), got ${describe(action)}`);
  if (action.length !== d) throw new Error(`the action must have ${d} values (the robot's action dimension), got ${action.length}`);
  return action.map((v, j) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`action[${j}] must be a finite number, got ${describe(v)}`);
    if (v < space.low[j] || v > space.high[j])
      throw new Error(`action[${j}] = ${v} is outside the action bounds [${space.low[j]}, ${space.high[j]}]`);
    return v;
  });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `${typeof v} ${JSON.stringify(v) ?? String(v)}`;
}

/** The takeover in progress: who drives, the newest action and when it came. */
export interface Takeover {
  source: string;
  action: number[];
  at: number;
}

/** The action that a takeover's chunk sends: the teleop action repeated for each of the chunk's steps. */
export function teleopChunk(action: readonly number[], chunk: number): Float32Array {
  const d = action.length;
  return Float32Array.from({ length: chunk * d }, (_, i) => action[i % d]);
}
