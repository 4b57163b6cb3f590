/**
 * The Hopper demo (`dsrl demo`) over several seeds and both observation settings, to choose the demo's
 * settings and state its result as a range: for each run, the best agent and both base lines re-evaluated
 * on the same 20 fresh episodes. One JSON file per run in --out, so an interrupted sweep continues.
 *
 *   OPENBLAS_NUM_THREADS=1 npx tsx experiments/demo-seeds.ts --seeds 1,2,3,4,5 --obs raw,normalized --out /work/runs/demo-seeds
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { runHopperDemo, type HopperDemoResult } from '../src/cli/demo.ts';
import { listArg } from '../src/cli/args.ts';

const o = new Command()
  .option('--seeds <list>', 'seeds', listArg('--seeds'), [1, 2, 3, 4, 5])
  .option('--obs <list>', 'raw and/or normalized', 'raw,normalized')
  .requiredOption('--out <dir>', 'folder for the per-run results and run folders')
  .parse()
  .opts();

mkdirSync(o.out, { recursive: true });
for (const obs of String(o.obs).split(',')) {
  for (const seed of o.seeds as number[]) {
    const file = join(o.out, `demo-${obs}-s${seed}.json`);
    if (existsSync(file)) continue;
    const res = await runHopperDemo({ seed, normalizeObs: obs === 'normalized', out: join(o.out, `run-${obs}-s${seed}`), quiet: true });
    writeFileSync(file, `${JSON.stringify({ ...res, base: brief(res.base), zero: brief(res.zero), steered: brief(res.steered) }, null, 2)}\n`);
  }
}

function brief(e: HopperDemoResult['base']) {
  return { mean: e.mean, std: e.std, returns: e.returns };
}

// The table over every finished run.
const rows = readdirSync(o.out)
  .filter((f) => /^demo-.*\.json$/.test(f))
  .map((f) => JSON.parse(readFileSync(join(o.out, f), 'utf8')));
for (const obs of ['raw', 'normalized']) {
  const mine = rows.filter((r) => r.normalizeObs === (obs === 'normalized')).sort((a, b) => a.seed - b.seed);
  if (mine.length === 0) continue;
  console.log(`${obs} observations:`);
  for (const r of mine) {
    console.log(
      `  seed ${r.seed}: evals ${r.evals.map((e: { mean: number }) => e.mean.toFixed(0)).join(' / ')}; fresh 20: base ${r.base.mean.toFixed(0)}, zero ${r.zero.mean.toFixed(0)}, steered ${r.steered.mean.toFixed(0)} (best at ${r.bestStep}); ${(r.trainSeconds / 60).toFixed(1)} min`,
    );
  }
  const steered = mine.map((r) => r.steered.mean);
  console.log(`  steered on fresh episodes: ${Math.min(...steered).toFixed(0)}-${Math.max(...steered).toFixed(0)} over ${mine.length} seeds`);
}
