/**
 * `npm run build:web`: the viewer page as a static site that works from any static file server.
 *
 *   tsx scripts/build-web.ts [--out <folder>] [--demos hopper,walker2d,halfcheetah,lift | --demos none]
 *
 * Vite builds the page into the folder (default web/dist), then each shipped base policy named in --demos
 * (models/<name>, all four by default) plays one evaluation episode (seed 10000, the seed of a run's base-policy
 * line, N(0, I) noise), recorded into demo/<name>.safetensors and listed in demo/index.json: the page shows these
 * when no `dsrl view` server is behind it. Where a steered agent is shipped for that policy (models/<name>-dsrl,
 * `dsrl pack`), it plays the same episode start too, so the page shows both side by side. Nothing is downloaded; the episodes are deterministic for a seed up to
 * floating-point differences across CPUs. `dsrl view` serves the same build (it skips the demo files).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadPolicyForEnv } from '../src/cli/args.ts';
import { existsSync } from 'node:fs';
import { evaluateBasePolicy, evaluateRun } from '../src/run/evaluate-run.ts';
import { TRAINING_EVAL_SEED } from '../src/run/evaluate.ts';
import type { DemoIndex } from '../web/src/sources.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The shipped base policies (models/README.md) and their envs. */
export const DEMOS: Record<string, string> = { hopper: 'Hopper-v5', walker2d: 'Walker2d-v5', halfcheetah: 'HalfCheetah-v5', lift: 'Lift-v0' };

export async function buildWeb(out: string, demos: string[], log: (line: string) => void = console.log): Promise<DemoIndex> {
  for (const d of demos)
    if (!(d in DEMOS)) throw new Error(`--demos: no shipped model "${d}" (choose from ${Object.keys(DEMOS).join(', ')}, or none)`);
  const vite = await import('vite');
  const t0 = performance.now();
  await vite.build({ configFile: join(ROOT, 'web', 'vite.config.ts'), logLevel: 'warn', build: { outDir: out, emptyOutDir: true } });
  log(`build:web: page built into ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const index: DemoIndex = { demos: [] };
  mkdirSync(join(out, 'demo'), { recursive: true });
  for (const name of demos) {
    const t1 = performance.now();
    const env = DEMOS[name];
    const policy = await loadPolicyForEnv(join(ROOT, 'models', name), env);
    try {
      const file = `${name}.safetensors`;
      const res = await evaluateBasePolicy(policy, env, {
        episodes: 1,
        seed: TRAINING_EVAL_SEED,
        parallel: 1,
        recordEpisodes: join(out, 'demo', file),
      });
      const success = res.successRate === undefined ? '' : `, success ${res.successRate}`;
      log(
        `build:web: demo ${file}: return ${res.mean.toFixed(1)}, ${res.lengths[0]} steps${success}, ${((performance.now() - t1) / 1000).toFixed(1)} s`,
      );
      const steered = join(ROOT, 'models', `${name}-dsrl`);
      if (!existsSync(join(steered, 'config.json'))) {
        index.demos.push({ name: `base policy models/${name}`, env, algo: null, episodes: { base: file } });
        continue;
      }
      const agentFile = `${name}-dsrl.safetensors`;
      const agent = await evaluateRun(
        { run: steered, agent: 'best', episodes: 1, seed: TRAINING_EVAL_SEED, parallel: 1, recordEpisodes: join(out, 'demo', agentFile) },
        policy,
      );
      index.demos.push({ name: `models/${name}-dsrl steering models/${name}`, env, algo: agent.algo, episodes: { base: file, agent: agentFile } });
      log(`build:web: demo ${agentFile}: return ${agent.mean.toFixed(1)}, ${agent.lengths[0]} steps`);
    } finally {
      await policy.close?.();
    }
  }
  writeFileSync(join(out, 'demo', 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  return index;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, demos: { type: 'string' } } });
  const demos = values.demos === undefined ? Object.keys(DEMOS) : values.demos === 'none' ? [] : values.demos.split(',').filter(Boolean);
  await buildWeb(resolve(values.out ?? join(ROOT, 'web', 'dist')), demos);
}
