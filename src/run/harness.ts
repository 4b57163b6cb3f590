/**
 * The run harness (stable-baselines3's `learn()` + EvalCallback): every trainer (`dsrl sac`, `dsrl steer`
 * with any algorithm of the table in algos/registry.ts, offline-only training, and whatever comes next)
 * hands it a `Trainer` (an agent, its envs, what its replay rows hold, its warm-up) and a `Schedule`, and
 * the harness owns the rest: the run folder and its config.json, resume from the newest checkpoint, the
 * replay buffer (offline rows, growth when a resume raises `steps`), metrics (CSV, JSONL, TensorBoard),
 * the progress bar, the evaluation history with best/last agents, the curve and summary.json.
 *
 * Random streams are named children of the run's seed (`replay`, `collect`; trainers name their own), so
 * the order in which pieces are built never changes a run.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../core/rng.ts';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { latestCheckpoint, saveCheckpoint, TRAIN_STATE_DIR } from './checkpoint.ts';
import { restoreCheckpoint } from './checkpoint-restore.ts';
import { evaluateRecording, runEpisodeFile } from './episode-record.ts';
import { deterministicActor, meanLength, TRAINING_EVAL_SEED, type EvalResult } from './evaluate.ts';
import { EvalHistory, type HistoryState } from './history.ts';
import { MetricsLogger } from './metrics.ts';
import { trainOffline } from './offline.ts';
import { createOffPolicyLoop, type LoopCheckpoint } from './offpolicy.ts';
import { ProgressBar } from './progress.ts';
import { CONFIG_FILE, createRunDir } from './run-dir.ts';
import { checkedCapacity, type RunFolder, type RunResult, type Schedule, type Trainer } from './trainer.ts';

export { checkSchedule, type RunFolder, type RunResult, type Schedule, type Trainer, type TrainingAgent } from './trainer.ts';

interface RunExtra {
  history: HistoryState;
  offlineRows: number;
  offlineTransitions: number;
}

const configSha256 = (dir: string) =>
  createHash('sha256')
    .update(readFileSync(join(dir, CONFIG_FILE)))
    .digest('hex');

export async function runTraining(
  folder: RunFolder,
  seed: number,
  trainer: Trainer,
  schedule: Schedule,
  describe: Record<string, unknown>,
): Promise<RunResult> {
  const t0 = performance.now();
  // Checked before the folder is made: a run that cannot hold its buffer leaves nothing behind.
  const capacityFor = (offlineRows: number) =>
    checkedCapacity(offlineRows + Math.min(schedule.bufferSize ?? Infinity, schedule.steps + (trainer.trainEnv?.numEnvs ?? 0)), trainer.replay);
  if (trainer.agent) capacityFor(trainer.offline?.rows ?? 0);
  const dir = folder.resume
    ? folder.dir
    : createRunDir({ algo: folder.name, env: folder.env, seed: folder.seed, config: folder.config, out: folder.out }).dir;
  trainer.onRunDir?.(dir);
  const root = Rng.fromSeed(seed);
  const evalOpts = { episodes: schedule.evalEpisodes, seed: TRAINING_EVAL_SEED };
  const recordAs = { env: String(describe.env), label: trainer.label };
  const offlineOnly = schedule.offlineUpdates !== undefined;
  const { agent } = trainer;
  const history = new EvalHistory({
    dir,
    title: `${trainer.label} on ${String(describe.env)} (seed ${seed})`,
    label: trainer.label,
    xAxis: offlineOnly ? 'gradient updates' : 'env steps',
    saveAgent: trainer.saveAgent,
    keepSnapshots: schedule.keepSnapshots ?? false,
    describe,
  });
  let buffer: ReplayBuffer | null = null;
  let resume: LoopCheckpoint | undefined;
  let resumedFrom: number | null = null;
  let offlineRows = trainer.offline?.rows ?? 0;
  let offlineTransitions = 0;
  const stateRoot = join(dir, TRAIN_STATE_DIR);
  if (folder.resume) {
    const checkpointDir = latestCheckpoint(stateRoot);
    if (!checkpointDir)
      throw new Error(
        `cannot resume ${dir}: no checkpoint in ${stateRoot} (a run is resumable when started with checkpointEvery / --checkpoint-every)`,
      );
    if (!agent || !trainer.trainEnv) throw new Error(`cannot resume ${dir}: this kind of run is not checkpointed`);
    const restored = await restoreCheckpoint(checkpointDir, {
      kind: trainer.kind,
      agent,
      env: trainer.trainEnv,
      bufferFields: trainer.replay.fields,
      configSha256: configSha256(dir),
    });
    const extra = restored.extra as RunExtra;
    history.restore(extra.history);
    ({ offlineRows, offlineTransitions } = extra);
    buffer = restored.buffer;
    // Raising `steps` on resume: the capacity a run of that length has (exact while the ring has not wrapped).
    const saved = buffer.toState();
    const capacity = capacityFor(offlineRows);
    if (capacity > saved.capacity && saved.totalAdded === saved.size) buffer = ReplayBuffer.fromState({ ...saved, capacity, next: saved.size });
    resume = restored.loop;
    resumedFrom = restored.step;
  } else {
    if (agent) {
      buffer = new ReplayBuffer({ capacity: capacityFor(offlineRows), ...trainer.replay, rng: root.derive('replay') });
      if (trainer.offline) offlineTransitions = trainer.offline.load(buffer);
    }
    for (const ref of trainer.references ?? []) {
      history.references.push({
        name: ref.name,
        // Each reference's first episode is kept for the viewer (dsrl view), beside the agent's.
        ...(await evaluateRecording(ref.actor, ref.env, evalOpts, runEpisodeFile(dir, ref.metric), {
          ...recordAs,
          label: ref.name,
          trainedSteps: 0,
        })),
      });
    }
  }

  const logger = new MetricsLogger(dir, resumedFrom === null ? {} : { resumeStep: resumedFrom });
  const result = (step: number, updates: number): RunResult => ({
    dir,
    evals: history.evals,
    best: history.best,
    references: history.references,
    seconds: (performance.now() - t0) / 1000,
    step,
    updates,
    resumedFrom,
    offlineTransitions,
  });
  const refFields = Object.fromEntries((trainer.references ?? []).map((r, i) => [r.metric, Number(history.references[i].mean.toPrecision(4))]));
  try {
    if (resumedFrom === null) {
      const values: Record<string, number> = {};
      (trainer.references ?? []).forEach((r, i) => {
        const ref = history.references[i];
        values[`charts/${r.metric}_return_mean`] = ref.mean;
        values[`charts/${r.metric}_return_std`] = ref.std;
        if (ref.successRate !== undefined) values[`charts/${r.metric}_success_rate`] = ref.successRate;
      });
      if (offlineTransitions > 0) values['charts/offline_transitions'] = offlineTransitions;
      if (!agent) {
        // Evaluation only: the first reference is the run's result.
        values['charts/eval_return_mean'] = history.references[0].mean;
        values['charts/eval_return_std'] = history.references[0].std;
        if (history.references[0].successRate !== undefined) values['charts/success_rate'] = history.references[0].successRate;
      }
      if (Object.keys(values).length > 0) logger.log(0, values);
    }
    if (!agent || !buffer) {
      const { name: _name, ...ref } = history.references[0];
      history.record({ step: 0, ...ref }, 0);
      return result(0, 0);
    }
    const actor = trainer.evalActor ?? deterministicActor(agent);
    const runEval = async (step: number): Promise<void> => {
      const t0 = performance.now();
      // The newest evaluation's first episode, overwritten each time: what the viewer replays.
      const stats = await evaluateRecording(actor, trainer.evalEnv, evalOpts, runEpisodeFile(dir, 'agent'), { ...recordAs, trainedSteps: step });
      const res: EvalResult = { step, ...stats };
      logger.log(step, {
        'charts/eval_return_mean': res.mean,
        'charts/eval_return_std': res.std,
        'charts/eval_length_mean': meanLength(res),
        ...(res.successRate !== undefined ? { 'charts/success_rate': res.successRate } : {}),
        'charts/eval_seconds': (performance.now() - t0) / 1000,
      });
      history.record(res, step, { offlineTransitions });
      // The rows logged so far reach the disk with each evaluation: `dsrl view` draws the losses beside it.
      logger.flush();
    };
    const total = offlineOnly ? schedule.offlineUpdates! : schedule.steps;
    const bar = new ProgressBar({
      total,
      initial: resumedFrom ?? 0,
      label: `${trainer.kind}${offlineOnly ? ' offline' : ''} ${String(describe.env)}`,
      ...(schedule.quiet ? { stream: { write: () => true } } : {}),
    });
    const progress = (step: number, fields: Record<string, string | number> = {}) => {
      const latest = history.latest;
      bar.update(step, { eval: latest === null ? '-' : Number(latest.toPrecision(4)), ...fields, ...refFields });
    };
    try {
      if (offlineOnly) {
        const updates = await trainOffline(agent, buffer, {
          updates: total,
          batchSize: schedule.batchSize,
          logEvery: schedule.logEvery,
          evalEvery: schedule.evalEvery,
          log: (step, values) => logger.log(step, values),
          evaluate: runEval,
          progress: (u) => progress(u),
        });
        return result(0, updates);
      }
      const trainEnv = trainer.trainEnv!;
      const live = buffer;
      const learner = await trainer.asyncLearner?.(live, schedule.batchSize);
      const loop = await createOffPolicyLoop({
        agent,
        env: trainEnv,
        buffer: live,
        rng: root.derive('collect'),
        seed,
        resume,
        learner,
        config: {
          totalSteps: total,
          learningStarts: schedule.learningStarts,
          updatesPerStep: schedule.utd,
          batchSize: schedule.batchSize,
          evalEvery: schedule.evalEvery,
          logEvery: schedule.logEvery,
          checkpointEvery: schedule.checkpointEvery,
          stopAfter: schedule.stopAfter,
        },
        callbacks: {
          warmupActions: trainer.warmupActions,
          transitionFields: trainer.transitionFields,
          gate: trainer.gate,
          metrics: trainer.metrics,
          log: (step, values) => logger.log(step, values),
          progress,
          evaluate: runEval,
          saveCheckpoint: async () => {
            // Rows up to this step must be on disk before a checkpoint claims them: resume truncates to it.
            logger.flush();
            const extra: RunExtra = { history: history.state(), offlineRows, offlineTransitions };
            await saveCheckpoint(stateRoot, { kind: trainer.kind, agent, buffer: live, env: trainEnv, loop, extra, configSha256: configSha256(dir) });
          },
        },
      }).catch(async (err: unknown) => {
        await learner?.link.close();
        throw err;
      });
      try {
        await loop.run();
      } finally {
        // The learner's final agent (its updates since the last refresh included) becomes the run's agent.
        const final = await learner?.link.close();
        if (final !== undefined) agent.load(final);
      }
      return result(loop.state.envSteps, loop.state.updates);
    } finally {
      bar.finish();
    }
  } finally {
    logger.close();
  }
}
