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
 * and the scene is reset first).
 */

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

  status(): OperatorStatus {
    return { phase: this.phase, paused: this.paused, estopped: this.estopped, owner: this.owner, label: this.label, ...this.counts };
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
      return this.changed(
        `EMERGENCY STOP (${source}): robot stopped, training paused; p resumes${this.phase === 'running' ? ', s / f ends the episode' : ''}`,
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
