/**
 * Body of one vector-env worker thread (Node only): hosts a SyncVectorEnv over its share of the sub-envs,
 * with its own MuJoCo wasm instance, and answers the parent's requests one at a time.
 */
import { parentPort } from 'node:worker_threads';
import { SyncVectorEnv } from './vector.ts';
import type { WorkerReply, WorkerRequest } from './vector-worker.ts';

if (!parentPort) throw new Error('vector-worker-thread.ts must run inside a worker thread');
const port = parentPort;
let venv: SyncVectorEnv | null = null;

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'init': {
      for (const specifier of request.preloadModules) await import(specifier);
      venv = await SyncVectorEnv.create(request.id, request.count, request.envOptions);
      const obsSpace = venv.singleObservationSpace;
      const actSpace = venv.singleActionSpace;
      reply({
        type: 'ready',
        observationSpace: { low: obsSpace.low, high: obsSpace.high, shape: [...obsSpace.shape] },
        actionSpace: { low: actSpace.low, high: actSpace.high, shape: [...actSpace.shape] },
      });
      return;
    }
    case 'reset': {
      const result = requireEnv().resetSync({ seed: request.seeds, options: request.options });
      reply({ type: 'reset', obs: result.obs, infos: result.infos }, [result.obs.buffer as ArrayBuffer]);
      return;
    }
    case 'step': {
      const result = requireEnv().stepSync(request.actions);
      reply(
        { type: 'step', obs: result.obs, rewards: result.rewards, terminated: result.terminated, truncated: result.truncated, infos: result.infos },
        [result.obs.buffer as ArrayBuffer, result.rewards.buffer as ArrayBuffer],
      );
      return;
    }
    case 'getState': {
      reply({ type: 'state', state: requireEnv().getStateSync() });
      return;
    }
    case 'setState': {
      requireEnv().setStateSync(request.state);
      reply({ type: 'stateSet' });
      return;
    }
    case 'close': {
      venv?.closeSync();
      venv = null;
      reply({ type: 'closed' });
      return;
    }
  }
}

function requireEnv(): SyncVectorEnv {
  if (!venv) throw new Error('vector worker used before init');
  return venv;
}

port.on('message', (request: WorkerRequest) => {
  handle(request).catch((err: unknown) => {
    const error = err instanceof Error ? err : new Error(String(err));
    reply({ type: 'error', message: error.message, stack: error.stack ?? '' });
  });
});
