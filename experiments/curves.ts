/**
 * One chart of eval return vs env steps for several run folders (any `dsrl steer` / `dsrl sac` runs), e.g.
 * variants of one algorithm:
 *
 *   npx tsx experiments/curves.ts --title "DSRL-NA on Hopper-v5" --run "M 1.5=runs/a" --run "M 2.5=runs/b" \
 *     [--hline "base policy=1254"] --out curves.svg
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { writeFileAtomic } from '../src/node/fs.ts';
import { curveSvg } from '../src/run/curve.ts';
import { repeated } from './steer-table.ts';
import { readRun } from './report.ts';

function labelled(flag: string, spec: string): [string, string] {
  const at = spec.lastIndexOf('=');
  if (at <= 0 || at === spec.length - 1) throw new Error(`${flag} must be <label>=<value>, got "${spec}"`);
  return [spec.slice(0, at), spec.slice(at + 1)];
}

function main(argv: string[]): void {
  const o = new Command()
    .name('curves')
    .requiredOption('--run <label=dir>', 'a run folder and its legend label (repeat)', repeated, [] as string[])
    .option('--hline <label=value>', 'a horizontal reference line (repeat)', repeated, [] as string[])
    .option('--title <text>', 'chart title', 'eval return')
    .option('--y-label <text>', 'the y axis (runs of envs that report success plot the success rate in %)', 'eval return')
    .requiredOption('--out <file.svg>', 'output SVG')
    .parse(argv)
    .opts();
  const series = (o.run as string[]).map((spec) => {
    const [name, dir] = labelled('--run', spec);
    const points = readRun(resolve(dir));
    if (!points) throw new Error(`${dir} is not a run folder (no config.json)`);
    return { name, points };
  });
  const hlines = (o.hline as string[]).map((spec) => {
    const [name, text] = labelled('--hline', spec);
    const value = Number(text);
    if (!Number.isFinite(value)) throw new Error(`--hline ${name}: not a number: "${text}"`);
    return { name, value };
  });
  writeFileAtomic(o.out, curveSvg({ title: o.title, xLabel: 'env steps', yLabel: o.yLabel, series, hlines }));
  console.log(`wrote ${o.out}`);
}

try {
  main(process.argv);
} catch (err) {
  console.error(`curves: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
