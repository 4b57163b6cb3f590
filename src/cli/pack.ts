/** CLI: `dsrl pack` (a run's agent as a small folder to ship or share; src/run/pack-run.ts). */
import type { Command } from 'commander';

export function registerPack(program: Command): void {
  program
    .command('pack')
    .description("copy a run's agents, config, metrics, curve and recorded episodes (not its training state) into a small folder to ship or share")
    .requiredOption('--run <dir>', 'the run folder (dsrl steer or dsrl sac)')
    .requiredOption('--out <dir>', 'the new folder (must not exist); its config names the base policy relative to it')
    .action(async (o: { run: string; out: string }) => {
      const { packRun } = await import('../run/pack-run.ts');
      const res = packRun(o.run, o.out);
      console.log(`packed ${o.run} into ${res.out}: ${res.files.length} files, ${(res.bytes / 1024).toFixed(0)} KB (dsrl eval --run ${o.out})`);
    });
}
