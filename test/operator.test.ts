/** The operator state machine (src/envs/operator/operator.ts) on its own: phases, flags, waits, halts, owners. */
import { describe, expect, it } from 'vitest';
import { actionOfKey, Operator, type OperatorStatus } from '../src/envs/operator/operator.ts';

/** Whether a promise has settled after pending microtasks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

function watched(): { op: Operator; lines: string[]; halts: string[]; statuses: OperatorStatus[] } {
  const op = new Operator();
  const lines: string[] = [];
  const halts: string[] = [];
  const statuses: OperatorStatus[] = [];
  op.onChange((s, line) => {
    statuses.push(s);
    lines.push(line);
  });
  op.addHalt((reason) => halts.push(reason));
  return { op, lines, halts, statuses };
}

describe('operator state machine', () => {
  it('maps the keys: s, f, r, p, space and e (either case), nothing else', () => {
    expect([...'sfrpe '].map(actionOfKey)).toEqual(['success', 'failure', 'reset-done', 'toggle-pause', 'estop', 'estop']);
    expect(actionOfKey('S')).toBe('success');
    expect(['x', 'q', '\r', '1'].map(actionOfKey)).toEqual([null, null, null, null]);
  });

  it('an episode starts only after the scene reset; labels only while one runs; each refusal says why', async () => {
    const { op, lines } = watched();
    expect(op.status().phase).toBe('waiting-reset');
    expect(op.command('success')).toEqual({ accepted: false, line: 'no episode to label (waiting for the scene reset (r))' });
    const begun = op.beginEpisode('train');
    expect(await settled(begun)).toBe(false);
    expect(op.command('reset-done').accepted).toBe(true);
    expect(await settled(begun)).toBe(true);
    expect(op.status()).toMatchObject({ phase: 'running', owner: 'train', episodes: 0 });
    expect(lines.at(-1)).toMatch(/^train episode 1 running/);
    expect(op.command('reset-done')).toEqual({ accepted: false, line: 'no scene reset is awaited (the train episode is running)' });
    expect(op.command('failure').accepted).toBe(true);
    expect(op.command('success')).toEqual({ accepted: false, line: 'no episode to label (the train episode is already labelled failure)' });
    expect(op.takeEnd('eval')).toBeNull();
    expect(op.takeEnd('train')).toEqual({ kind: 'label', label: 'failure' });
    expect(op.takeEnd('train')).toBeNull();
    expect(op.status()).toMatchObject({ phase: 'waiting-reset', owner: null, episodes: 1, failures: 1, successes: 0 });
  });

  it('r pressed before the env asks: the next episode starts at once', async () => {
    const { op } = watched();
    op.command('reset-done');
    expect(op.status()).toMatchObject({ phase: 'running', owner: null });
    expect(await settled(op.beginEpisode('eval'))).toBe(true);
    expect(op.status().owner).toBe('eval');
  });

  it('pause holds chunks, episode starts and training until resumed; the chunk in flight is not halted', async () => {
    const { op, halts } = watched();
    op.command('reset-done');
    await op.beginEpisode('train');
    expect(op.trainingClear()).toBeNull();
    expect(op.command('toggle-pause').line).toMatch(/^paused/);
    expect(halts).toEqual([]);
    const chunk = op.whenClear('train');
    const training = op.trainingClear()!;
    expect(await settled(chunk)).toBe(false);
    expect(await settled(training)).toBe(false);
    expect(op.command('pause')).toEqual({ accepted: false, line: 'already paused' });
    expect(op.command('toggle-pause').line).toBe('resumed');
    expect(await settled(chunk)).toBe(true);
    expect(await settled(training)).toBe(true);
    expect(op.command('resume')).toEqual({ accepted: false, line: 'not paused' });
    // A scene reset while paused starts the episode only on resume.
    op.command('success');
    op.takeEnd('train');
    op.command('pause');
    const next = op.beginEpisode('train');
    expect(op.command('reset-done').line).toBe('scene reset: the episode starts once resumed (p)');
    expect(await settled(next)).toBe(false);
    op.command('resume');
    expect(await settled(next)).toBe(true);
  });

  it('emergency stop halts every robot before anything else, holds everything, and p releases it', async () => {
    const op = new Operator();
    const order: string[] = [];
    op.addHalt((reason) => order.push(`halt 1: ${reason}`));
    const remove = op.addHalt(() => {
      throw new Error('a broken halt');
    });
    op.addHalt((reason) => order.push(`halt 3: ${reason}`));
    op.onChange((s) => order.push(`status estopped=${s.estopped}`));
    op.command('reset-done');
    await op.beginEpisode('train');
    order.length = 0;
    expect(op.command('estop', 'page').line).toMatch(/^EMERGENCY STOP \(page\): robot stopped, training paused; p resumes, s \/ f ends the episode/);
    // A throwing halt does not keep the others from running.
    expect(order).toEqual(['halt 1: emergency stop (page)', 'halt 3: emergency stop (page)', 'status estopped=true']);
    remove();
    expect(op.status()).toMatchObject({ estopped: true, estops: 1, phase: 'running' });
    const chunk = op.whenClear('train');
    expect(await settled(chunk)).toBe(false);
    expect(await settled(op.trainingClear()!)).toBe(false);
    // A label while e-stopped ends the episode (the env takes it without sending a chunk); the e-stop stays.
    op.command('failure');
    expect(await settled(chunk)).toBe(true);
    expect(op.takeEnd('train')).toEqual({ kind: 'label', label: 'failure' });
    op.command('reset-done');
    const next = op.beginEpisode('train');
    expect(await settled(next)).toBe(false);
    expect(op.command('toggle-pause').line).toBe('resumed');
    expect(await settled(next)).toBe(true);
    expect(op.status()).toMatchObject({ estopped: false, paused: false });
  });

  it('success halts the robot (the scene is held as it is); failure lets the chunk finish', async () => {
    const { op, halts } = watched();
    op.command('reset-done');
    await op.beginEpisode('train');
    op.command('failure');
    expect(halts).toEqual([]);
    op.takeEnd('train');
    op.command('reset-done');
    await op.beginEpisode('train');
    op.command('success');
    expect(halts).toEqual(['operator: success']);
    expect(op.takeEnd('train')).toEqual({ kind: 'label', label: 'success' });
    expect(op.status()).toMatchObject({ successes: 1, failures: 1, episodes: 2 });
  });

  it("another owner's episode interrupts a running one; a label given before stands", async () => {
    const { op, lines } = watched();
    const interrupted: string[] = [];
    op.onInterrupt('train', (reason) => interrupted.push(reason));
    op.command('reset-done');
    await op.beginEpisode('train');
    expect(interrupted).toEqual([]);
    const evalStart = op.beginEpisode('eval');
    expect(interrupted).toEqual(['interrupted by the eval episode']);
    expect(lines.at(-1)).toBe('the train episode was interrupted for the eval episode: reset the scene, then press r');
    expect(op.status()).toMatchObject({ phase: 'waiting-reset', owner: null, episodes: 1 });
    expect(await settled(op.whenClear('train'))).toBe(true); // the train env has an end to take
    op.command('reset-done');
    expect(await settled(evalStart)).toBe(true);
    op.command('success');
    expect(op.takeEnd('eval')).toEqual({ kind: 'label', label: 'success' });
    expect(op.takeEnd('train')).toEqual({ kind: 'interrupted' });
    expect(op.takeEnd('train')).toBeNull();
    // Labelled, then interrupted before the train env took the label: the label is kept for it.
    op.command('reset-done');
    await op.beginEpisode('train');
    op.command('success');
    void op.beginEpisode('eval');
    expect(op.takeEnd('train')).toEqual({ kind: 'label', label: 'success' });
    expect(op.status()).toMatchObject({ successes: 2 });
    // The robot side ending an episode needs a scene reset too.
    op.command('reset-done');
    await Promise.resolve();
    op.episodeEnded('eval', 'truncated');
    expect(op.status().phase).toBe('waiting-reset');
    expect(lines.at(-1)).toBe('eval episode ended by the robot side (truncated); reset the scene, then press r');
  });

  it('refuses an unknown action by name', () => {
    expect(() => new Operator().command('launch' as never)).toThrow(/unknown action "launch" \(expected one of success, failure, reset-done/);
  });
});
