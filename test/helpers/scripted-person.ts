/**
 * A scripted person at `dsrl steer --operator`'s page, for a robot served by test/fixtures/dsrl_env.py's
 * make_operated (which prints `success <episode>` when the task reaches its goal and drives each step with
 * the action in DSRL_TELEOP_FILE while that file exists). The person resets the scene whenever asked, labels
 * success `labelDelayMs` after the robot side's success line, and at the start of every `takeoverEvery`-th
 * training episode takes over with the robot's teleop for `takeoverMs`.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import type { Adapter } from './remote-adapter.ts';

export interface PersonOptions {
  /** The operator page's port (steer's operatorPort). */
  port: number;
  /** The adapter serving make_operated (its stdout lines carry `success <episode>`). */
  adapter: Adapter;
  /** DSRL_TELEOP_FILE of that adapter. */
  teleopFile: string;
  /** The action the teleop drives while it holds the robot. */
  takeoverAction: number[];
  labelDelayMs: number;
  takeoverEvery: number;
  takeoverMs: number;
}

export interface PersonCounts {
  trainEpisodes: number;
  takeovers: number;
  labels: number;
}

interface Status {
  phase: string;
  owner: string | null;
  episodes: number;
}

/** Starts the person (it connects to the page once steer serves it); `stop()` ends it and resolves with its counts. */
export function startScriptedPerson(o: PersonOptions): { counts: PersonCounts; stop(): Promise<PersonCounts> } {
  const counts: PersonCounts = { trainEpisodes: 0, takeovers: 0, labels: 0 };
  let ws: WebSocket | null = null;
  let status: Status | null = null;
  let stopped = false;
  const run = (async () => {
    const send = (action: string) => ws!.send(JSON.stringify({ type: 'command', action }));
    let episodeKey = '';
    const onMessage = (data: unknown) => {
      const m = JSON.parse(String(data)) as { status?: Status };
      if (!m.status) return;
      status = m.status;
      if (status.phase === 'waiting-reset') setTimeout(() => send('reset-done'), 2);
      const key = `${status.owner}:${status.episodes}`;
      if (status.phase === 'running' && status.owner === 'train' && key !== episodeKey) {
        episodeKey = key;
        if (++counts.trainEpisodes % o.takeoverEvery === 0) {
          counts.takeovers++;
          writeFileSync(`${o.teleopFile}.tmp`, JSON.stringify(o.takeoverAction));
          renameSync(`${o.teleopFile}.tmp`, o.teleopFile);
          setTimeout(() => rmSync(o.teleopFile, { force: true }), o.takeoverMs);
        }
      }
    };
    for (;;) {
      if (stopped) return;
      ws = new WebSocket(`ws://127.0.0.1:${o.port}/ws`);
      ws.on('message', onMessage); // from the start: the first status can come in the same tick as 'open'
      if (await new Promise<boolean>((resolve) => ws!.once('open', () => resolve(true)).once('error', () => resolve(false)))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    let seen = o.adapter.lines.length;
    while (!stopped) {
      for (; seen < o.adapter.lines.length; seen++) {
        if (!/^success \d+/.test(o.adapter.lines[seen].text)) continue;
        const episodes = (status as Status | null)?.episodes;
        setTimeout(() => {
          const now = status as Status | null;
          // Only the episode it was meant for: the robot side may have ended it meanwhile (its time limit).
          if (now?.phase === 'running' && now.episodes === episodes) {
            counts.labels++;
            send('success');
          }
        }, o.labelDelayMs);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    counts,
    async stop() {
      stopped = true;
      await run;
      ws?.close();
      rmSync(o.teleopFile, { force: true });
      return counts;
    },
  };
}
