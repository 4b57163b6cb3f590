/**
 * The operator of a robot run (`dsrl steer --operator`, docs/operator.md): the person who resets the
 * scene, says whether an attempt succeeded, pauses, and stops the robot in an emergency. This module is
 * the state machine alone; the terminal and the web page (src/node/operator-*.ts) turn keys and buttons
 * into `command()` calls, and OperatorVectorEnv (operator-env.ts) asks it when an episode may start,
 * whether a chunk may be sent and how an episode ended. Browser-safe, no timers: every wait is a promise
 * settled by a command.
 *
 * One robot, one episode at a time. Phases: `waiting-reset` (the person resets the scene, then presses
 * r) -> `running` (an env owns the episode) -> `labelled` (s or f; the env ends the episode at the chunk
 * in flight, or at once when none is) -> `waiting-reset`. An episode the robot side ends itself goes
 * straight back to `waiting-reset`. Two flags stop collection whatever the phase: `paused` (p; the chunk
 * in flight finishes) and `estopped` (space or e; every registered halt runs at once, before anything
 * else); `resume` (p again) clears both. The training env and the evaluation env are separate owners:
 * an episode started by one while the other's is running interrupts the other's (it ends as truncated,
 * and the scene is reset first). A takeover from the page (teleop.ts) replaces the policy's chunks while
 * it lasts; an emergency stop ends it.
 */
import { checkTeleopAction, TELEOP_TIMEOUT_MS, type Takeover, type TeleopSpace } from './teleop.ts';

export type Label = 'success' | 'failure';
export type Phase = 'waiting-reset' | 'running' | 'labelled';
export type OperatorAction = 'success' | 'failure' | 'reset-done' | 'pause' | 'resume' | 'toggle-pause' | 'estop';
export const OPERATOR_ACTIONS: readonly OperatorAction[] = ['success', 'failure', 'reset-done', 'pause', 'resume', 'toggle-pause', 'estop'];

/** The keys of the terminal and of the page: s, f, r, p, and space or e for the emergency stop. */
export function actionOfKey(key: string): OperatorAction | null {
  switch (key.toLowerCase()) {
    case 's':
      return 'success';
    case 'f':
      return 'failure';
    case 'r':
      return 'reset-done';
    case 'p':
      return 'toggle-pause';
    case ' ':
    case 'e':
      return 'estop';
    default:
      return null;
  }
}

export interface OperatorStatus {
  phase: Phase;
  paused: boolean;
  estopped: boolean;
  /** Who runs the current episode ('train', 'eval'), null when none has started. */
  owner: string | null;
  label: Label | null;
  /** Episodes ended (labelled, ended by the robot side, or interrupted), and the labels given. */
  episodes: number;
  successes: number;
  failures: number;
  estops: number;
  /** Training env steps run, and those an operator drove (interventions). */
  steps: number;
  interventionSteps: number;
  /** Who drives the robot from the page (a takeover), null when the policy does. */
  takeover: string | null;
  /** One step's action space for the page's teleop, null until a robot is connected. */
  actionSpace: TeleopSpace | null;
  /** The last step action sent to the robot (the page starts a takeover's gripper from it), null before any. */
  lastAction: number[] | null;
}

export interface OperatorOptions {
  /** The clock for takeover ages, in ms (default performance.now). */
  now?: () => number;
  /** A takeover ends when its newest action is older than this (default TELEOP_TIMEOUT_MS). */
  teleopTimeoutMs?: number;
}

/** How the env should end its episode at this point, if at all. */
export type EpisodeEnd = { kind: 'label'; label: Label } | { kind: 'interrupted' };

export class Operator {
  private phase: Phase = 'waiting-reset';
  private paused = false;
  private estopped = false;
  private owner: string | null = null;
  private label: Label | null = null;
  /** Ends kept for an owner whose episode another owner's episode interrupted. */
  private readonly pendingEnds = new Map<string, EpisodeEnd>();
  private readonly counts = { episodes: 0, successes: 0, failures: 0, estops: 0, steps: 0, interventionSteps: 0 };
  private readonly halts = new Set<(reason: string) => void>();
  private readonly interruptHandlers = new Map<string, (reason: string) => void>();
  private readonly listeners = new Set<(status: OperatorStatus, line: string) => void>();
  /** Pending waits, each rechecked on every change. */
  private waiters: Array<() => boolean> = [];
  private takeover: Takeover | null = null;
  private actionSpace: TeleopSpace | null = null;
  private lastAction: number[] | null = null;
  private readonly now: () => number;
  private readonly teleopTimeoutMs: number;

  constructor(options: OperatorOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.teleopTimeoutMs = options.teleopTimeoutMs ?? TELEOP_TIMEOUT_MS;
  }

  status(): OperatorStatus {
    return {
      phase: this.phase,
      paused: this.paused,
      estopped: this.estopped,
      owner: this.owner,
      label: this.label,
      ...this.counts,
      takeover: this.takeover?.source ?? null,
      actionSpace: this.actionSpace,
      lastAction: this.lastAction,
    };
  }

  /** Called with the status and a line saying what changed (for the terminal and the page). */
  onChange(fn: (status: OperatorStatus, line: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Something that halts the robot (a remote env's `stop`); run on an emergency stop and a success label. */
  addHalt(fn: (reason: string) => void): () => void {
    this.halts.add(fn);
    return () => this.halts.delete(fn);
  }

  /**
   * Called at once when another owner's episode interrupts `owner`'s (before the other's starts), so the
   * interrupted env can end its episode on the robot side rather than when it next steps.
   */
  onInterrupt(owner: string, fn: (reason: string) => void): () => void {
    this.interruptHandlers.set(owner, fn);
    return () => this.interruptHandlers.delete(owner);
  }

  /** Applies one action; returns whether it was taken and a line saying what happened or why not. */
  command(action: OperatorAction, source = 'operator'): { accepted: boolean; line: string } {
    if (action === 'estop') {
      // First of all: the robot.
      this.halt(`emergency stop (${source})`);
      this.estopped = true;
      this.counts.estops++;
      const tookOver = this.takeover !== null;
      this.takeover = null;
      return this.changed(
        `EMERGENCY STOP (${source}): robot stopped, training paused${tookOver ? ', takeover ended' : ''}; p resumes${this.phase === 'running' ? ', s / f ends the episode' : ''}`,
      );
    }
    if (action === 'toggle-pause') action = this.paused || this.estopped ? 'resume' : 'pause';
    switch (action) {
      case 'pause':
        if (this.paused) return { accepted: false, line: 'already paused' };
        this.paused = true;
        return this.changed('paused: no new chunk or episode starts, training waits (the chunk in flight finishes); p resumes');
      case 'resume':
        if (!this.paused && !this.estopped) return { accepted: false, line: 'not paused' };
        this.paused = false;
        this.estopped = false;
        return this.changed(`resumed${this.phase === 'waiting-reset' ? ': reset the scene, then press r' : ''}`);
      case 'reset-done':
        if (this.phase !== 'waiting-reset') return { accepted: false, line: `no scene reset is awaited (${this.describePhase()})` };
        this.phase = 'running';
        return this.changed(`scene reset: the episode starts${this.paused || this.estopped ? ' once resumed (p)' : ''}`);
      case 'success':
      case 'failure': {
        if (this.phase !== 'running' || this.owner === null) return { accepted: false, line: `no episode to label (${this.describePhase()})` };
        // Success holds the scene as it is; a failure lets the chunk in flight finish (e-stop is for stopping).
        if (action === 'success') this.halt('operator: success');
        this.phase = 'labelled';
        this.label = action;
        return this.changed(`${action} labelled: the ${this.owner} episode ends`);
      }
      default:
        throw new Error(`operator: unknown action ${JSON.stringify(action)} (expected one of ${OPERATOR_ACTIONS.join(', ')})`);
    }
  }

  // ---- the takeover from the page (teleop.ts) ----

  /**
   * One teleop message from `source` (a page): an action starts or continues its takeover, null ends it.
   * Refused (with the reason) while e-stopped, before a robot is connected, while another source's
   * takeover is fresh, or when the action is malformed or outside the bounds.
   */
  teleop(action: unknown, source: string): { accepted: boolean; line: string } {
    const current = this.freshTakeover();
    if (action === null) {
      if (current?.source !== source) return { accepted: true, line: 'no takeover to end' };
      this.takeover = null;
      return this.changed(`takeover ended (${source}): the policy drives again`);
    }
    if (this.estopped) return { accepted: false, line: 'emergency stop: release it (p) before taking over' };
    if (!this.actionSpace) return { accepted: false, line: 'no robot connected yet: the action space is not known' };
    if (current && current.source !== source) return { accepted: false, line: `${current.source} has the takeover` };
    let checked: number[];
    try {
      checked = checkTeleopAction(action, this.actionSpace);
    } catch (err) {
      return { accepted: false, line: (err as Error).message };
    }
    this.takeover = { source, action: checked, at: this.now() };
    if (current) return { accepted: true, line: '' };
    return this.changed(`takeover (${source}): the operator drives the robot from the next chunk; release to hand back`);
  }

  /** Ends `source`'s takeover, if it has one (its page closed). */
  endTakeover(source: string, why: string): void {
    if (this.takeover?.source !== source) return;
    this.takeover = null;
    this.changed(`takeover ended (${source}): ${why}`);
  }

  /** The action a takeover drives now, or null; a takeover past its timeout ends here. */
  takeoverAction(): number[] | null {
    return this.freshTakeover()?.action.slice() ?? null;
  }

  /** The last step action sent to the robot (no status change: the page reads it when a takeover starts). */
  noteAction(action: ArrayLike<number>): void {
    this.lastAction = Array.from(action);
  }

  /** The env's step action space, for the page (every env of the run has the same). */
  setActionSpace(low: ArrayLike<number>, high: ArrayLike<number>): void {
    const space = { low: Array.from(low), high: Array.from(high) };
    if (this.actionSpace) {
      if (JSON.stringify(space) !== JSON.stringify(this.actionSpace))
        throw new Error('operator: the envs of one run have different action spaces; one person drives one robot');
      return;
    }
    this.actionSpace = space;
    this.changed(`robot connected: ${space.low.length}-dimensional action (hold Shift or the gamepad's LB to take over)`);
  }

  private freshTakeover(): Takeover | null {
    const t = this.takeover;
    if (!t) return null;
    const age = this.now() - t.at;
    if (age <= this.teleopTimeoutMs) return t;
    this.takeover = null;
    this.changed(
      `takeover ended (${t.source}): no teleop message for ${Math.round(age)} ms (more than ${this.teleopTimeoutMs}); the policy drives again`,
    );
    return null;
  }

  // ---- the env side (OperatorVectorEnv) ----

  /**
   * Waits until `owner` may start an episode: the scene was reset (r) and nothing is paused or stopped.
   * Another owner's running episode is interrupted first; a reset asked mid-episode by the same owner
   * needs a scene reset too.
   */
  beginEpisode(owner: string): Promise<void> {
    if (this.owner !== null && this.phase !== 'waiting-reset') {
      const who = this.owner;
      // A label given before the interruption stands; otherwise the episode ends as interrupted.
      const end: EpisodeEnd = this.phase === 'labelled' ? { kind: 'label', label: this.label! } : { kind: 'interrupted' };
      if (end.kind === 'label') this.countLabel(end.label);
      if (who !== owner) {
        this.pendingEnds.set(who, end);
        this.interruptHandlers.get(who)?.(`interrupted by the ${owner} episode`);
      }
      this.endEpisodeState();
      this.changed(
        `the ${who} episode ${end.kind === 'label' ? `ended (${end.label})` : 'was interrupted'} for the ${owner} episode: reset the scene, then press r`,
      );
    }
    return this.waitFor(() => {
      if (this.phase !== 'running' || this.owner !== null || this.paused || this.estopped) return false;
      this.owner = owner;
      this.pendingEnds.delete(owner);
      this.changed(`${owner} episode ${this.counts.episodes + 1} running: s = success, f = failure, space / e = emergency stop, p = pause`);
      return true;
    });
  }

  /** Resolves when `owner` may send its next chunk, or has an end to take (a label or an interruption). */
  whenClear(owner: string): Promise<void> {
    return this.waitFor(() => this.hasEnd(owner) || (!this.paused && !this.estopped));
  }

  /** null when training may go on; else a promise settled on resume. */
  trainingClear(): Promise<void> | null {
    if (!this.paused && !this.estopped) return null;
    return this.waitFor(() => !this.paused && !this.estopped);
  }

  /** The end `owner`'s episode has to take now (consumed), or null. */
  takeEnd(owner: string): EpisodeEnd | null {
    const kept = this.pendingEnds.get(owner);
    if (kept) {
      this.pendingEnds.delete(owner);
      return kept;
    }
    if (this.phase !== 'labelled' || this.owner !== owner) return null;
    const label = this.label!;
    this.countLabel(label);
    this.endEpisodeState();
    this.changed(`${owner} episode ended: ${label}; reset the scene, then press r`);
    return { kind: 'label', label };
  }

  /** The robot side ended `owner`'s episode itself (terminated, truncated, a lost link). */
  episodeEnded(owner: string, why: string): void {
    if (this.owner !== owner) return;
    this.endEpisodeState();
    this.changed(`${owner} episode ended by the robot side (${why}); reset the scene, then press r`);
  }

  /** Counts a training chunk's steps and those an operator drove. */
  noteSteps(steps: number, interventionSteps: number): void {
    this.counts.steps += steps;
    this.counts.interventionSteps += interventionSteps;
  }

  private hasEnd(owner: string): boolean {
    return this.pendingEnds.has(owner) || (this.phase === 'labelled' && this.owner === owner);
  }

  private countLabel(label: Label): void {
    this.counts[label === 'success' ? 'successes' : 'failures']++;
  }

  private endEpisodeState(): void {
    this.phase = 'waiting-reset';
    this.owner = null;
    this.label = null;
    this.counts.episodes++;
  }

  private describePhase(): string {
    if (this.phase === 'waiting-reset') return 'waiting for the scene reset (r)';
    if (this.phase === 'labelled') return `the ${this.owner} episode is already labelled ${this.label}`;
    return this.owner === null ? 'the scene is reset, the episode has not started yet' : `the ${this.owner} episode is running`;
  }

  private halt(reason: string): void {
    for (const fn of this.halts) {
      try {
        fn(reason);
      } catch {
        // one failing halt must not keep the others from running
      }
    }
  }

  private waitFor(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(() => {
        if (!ready()) return false;
        resolve();
        return true;
      });
    });
  }

  private changed(line: string): { accepted: boolean; line: string } {
    const status = this.status();
    for (const fn of this.listeners) fn(status, line);
    // Each waiter at most once per change, in order; one that starts an episode changes the state the next sees.
    const pending = this.waiters;
    this.waiters = [];
    for (const w of pending) if (!w()) this.waiters.push(w);
    return { accepted: true, line };
  }
}
