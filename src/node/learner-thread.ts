/**
 * Body of the learner's worker thread (src/node/learner-worker.ts): rebuilds the agent and the replay
 * buffer from what the actor side sent, then updates whenever the rows pushed allow it (actor-learner.ts's
 * rules), letting messages in between updates. After each update its acting weights are copied into
 * shared memory under a sequence lock, so the actor reads the newest ones without a round trip and
 * without waiting for an update to end.
 */
import { parentPort } from 'node:worker_threads';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { DiffusionPolicy } from '../policies/diffusion/policy.ts';
import { loadPolicy } from '../policies/load.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import { Learner } from '../run/actor-learner.ts';
import { needsPolicy, rebuildAgent, type PolicySource } from '../run/learner-agent.ts';
import { FLAG, PROGRESS_MS, type LearnerReply, type LearnerRequest } from './learner-worker.ts';

if (!parentPort) throw new Error('learner-thread.ts must run inside a worker thread');
const port = parentPort;

let learner: Learner | null = null;
let closing = false;
let wake: (() => void) | null = null;
const wakeUp = () => {
  const w = wake;
  wake = null;
  w?.();
};
const reply = (message: LearnerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function loadSource(source: PolicySource): Promise<NoisePolicy> {
  const policy = source.kind === 'diffusion' ? new DiffusionPolicy(source.init) : await loadPolicy(source.spec);
  policy.usePrecision?.(source.precision);
  return policy;
}

port.on('message', (m: LearnerRequest) => {
  void handle(m).catch((err: Error) => {
    closing = true;
    reply({ type: 'error', message: err.message, stack: err.stack ?? '' });
    wakeUp();
  });
});

async function handle(m: LearnerRequest): Promise<void> {
  switch (m.type) {
    case 'init': {
      const policy = m.policy && needsPolicy(m.recipe) ? await loadSource(m.policy) : null;
      const agent = rebuildAgent(m.recipe, policy);
      agent.load(m.state);
      const actor = agent.actor.values;
      if (actor.length !== m.weights.length) throw new Error(`learner: the actor has ${actor.length} weights, the actor side ${m.weights.length}`);
      learner = new Learner(agent, ReplayBuffer.fromState(m.buffer), { batchSize: m.batchSize });
      reply({ type: 'ready' });
      void run(learner, actor, m.flags, m.weights).catch((err: Error) => {
        closing = true;
        reply({ type: 'error', message: err.message, stack: err.stack ?? '' });
      });
      return;
    }
    case 'rows':
      learner!.push(m.rows, m.updates);
      wakeUp();
      return;
    case 'hold':
      learner!.held = m.held;
      wakeUp();
      return;
    case 'close':
      closing = true;
      wakeUp();
      return;
  }
}

/** Copies the acting weights into shared memory: odd sequence while writing (actor side: learner-worker.ts readWeights). */
function share(flags: Int32Array, shared: Float32Array, actor: Float32Array, updates: number): void {
  Atomics.add(flags, FLAG.seq, 1);
  shared.set(actor);
  Atomics.store(flags, FLAG.weightsUpdates, updates);
  Atomics.add(flags, FLAG.seq, 1);
}

async function run(l: Learner, actor: Float32Array, flags: Int32Array, shared: Float32Array): Promise<void> {
  let reportedAt = performance.now();
  const report = () => {
    reply({ type: 'progress', progress: l.takeProgress() });
    reportedAt = performance.now();
  };
  while (!closing) {
    if (!l.canUpdate) {
      report();
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    Atomics.store(flags, FLAG.busy, 1);
    try {
      await l.update();
    } finally {
      Atomics.store(flags, FLAG.busy, 0);
    }
    Atomics.store(flags, FLAG.updates, l.updates);
    share(flags, shared, actor, l.updates);
    if (performance.now() - reportedAt >= PROGRESS_MS) report();
    // Between two updates, let the actor side's messages in (rows, hold, close).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  reply({ type: 'closed', state: l.agent.state(), progress: l.takeProgress() });
}
