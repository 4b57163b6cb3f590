/** The one line a training command prints when it ends. */
import type { EpisodeStats } from '../run/evaluate.ts';
import type { RunResult } from '../run/harness.ts';

export function summaryLine(res: RunResult, base: EpisodeStats | undefined, unit: 'step' | 'update'): string {
  const parts: string[] = [];
  if (base) parts.push(`${res.references[0]?.name ?? 'base policy'} return ${base.mean.toFixed(1)} ± ${base.std.toFixed(1)}`);
  const trained = res.updates > 0;
  if (res.best && trained)
    parts.push(`best eval return ${res.best.mean.toFixed(1)} at ${unit} ${res.best.step} after ${res.updates} gradient updates`);
  else if (res.evals.length > 0 && base && res.step === 0 && res.updates === 0) parts.push('evaluated the base policy alone');
  else parts.push(`no gradient updates were made (eval return ${res.best ? res.best.mean.toFixed(1) : 'n/a'} is the untrained agent's)`);
  parts.push(`${(res.seconds / 60).toFixed(1)} min${res.resumedFrom === null ? '' : ` (resumed from step ${res.resumedFrom})`}`);
  parts.push(`run folder ${res.dir}`);
  return parts.join('; ');
}
