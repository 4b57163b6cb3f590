import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAC, sacDefaults } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';

const PY = '/usr/bin/python3';
const hasTorch = existsSync(PY) && spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

describe.runIf(hasTorch)('SAC update agrees with a PyTorch implementation', () => {
  it('gradients, updated weights, temperature and losses match after several updates', () => {
    const B = 16;
    const cfg = sacDefaults(5, 2, { actorHidden: [32, 32], criticHidden: [32, 32], criticLayerNorm: true, tau: 0.05, initAlpha: 0.5 });
    const sac = new SAC(cfg, Rng.fromSeed(11), B);
    const init = {
      actor: Array.from(sac.actor.values),
      critics: sac.critics.map((c) => Array.from(c.values)),
      targets: sac.targets.map((t) => Array.from(t.values)),
      logAlpha: sac.logAlpha.values[0],
    };
    const r = Rng.fromSeed(12);
    const batch = {
      batchSize: B,
      obs: r.fillNormal(new Float32Array(B * 5)),
      nextObs: r.fillNormal(new Float32Array(B * 5)),
      actions: r.fillUniform(new Float32Array(B * 2), -1, 1),
      rewards: r.fillNormal(new Float32Array(B)),
      terminated: Uint8Array.from({ length: B }, (_, i) => (i % 5 === 0 ? 1 : 0)),
    };
    const updates = 3;
    const eps = Array.from(r.fillNormal(new Float32Array(2 * updates * B * 2)));
    let k = 0;
    sac.noiseSource = { normal: () => eps[k++] };
    let info: Record<string, number> = {};
    for (let i = 0; i < updates; i++) info = sac.update(batch);
    expect(k).toBe(eps.length);
    const dir = mkdtempSync(join(tmpdir(), 'dsrl-parity-'));
    const file = join(dir, 'case.json');
    writeFileSync(file, JSON.stringify({
      config: cfg, init, updates, eps,
      batch: { size: B, obs: Array.from(batch.obs), nextObs: Array.from(batch.nextObs), actions: Array.from(batch.actions), rewards: Array.from(batch.rewards), terminated: Array.from(batch.terminated) },
      expected: {
        actor: Array.from(sac.actor.values), critics: sac.critics.map((c) => Array.from(c.values)), targets: sac.targets.map((t) => Array.from(t.values)),
        actorGrad: Array.from(sac.actor.grads), criticGrads: sac.critics.map((c) => Array.from(c.grads)),
        logAlpha: sac.logAlpha.values[0], qfLoss: info['losses/qf_loss'] * 2, actorLoss: info['losses/actor_loss'],
      },
    }));
    const res = spawnSync(PY, [join(import.meta.dirname, 'reference', 'sac_parity.py'), file], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
    const diff = JSON.parse(res.stdout.trim().split('\n').pop()!);
    for (const [key, value] of Object.entries(diff)) expect(value as number, key).toBeLessThan(1e-4);
  });
});
