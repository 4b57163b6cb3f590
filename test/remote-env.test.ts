/**
 * Remote envs (docs/remote-env.md) against the Python adapter (docs/examples/remote_env_adapter.py,
 * Debian's python3-websockets + numpy) wrapping test/fixtures/remote_env_reach.py, a 1-D reach task
 * mirrored here in TS. CI=true: a missing python3-websockets fails; elsewhere the adapter tests skip.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Rng } from '../src/core/rng.ts';
import { makeChunkedVectorEnv } from '../src/envs/registry.ts';
import { RemoteEnv, type RemoteEnvOptions } from '../src/envs/remote/remote-env.ts';
import { RemoteVectorEnv } from '../src/envs/remote/remote-vector-env.ts';
import type { VectorEnv, VectorStepResult } from '../src/envs/vector.ts';
import { openWsLink } from '../src/node/remote-env-link.ts';
import { runEval } from '../src/cli/eval.ts';
import { loadPolicyForEnv } from '../src/cli/args.ts';
import { saveDiffusionCheckpoint } from '../src/policies/diffusion/checkpoint-io.ts';
import { steer } from '../src/run/steer.ts';
import { freePort, pythonProblem, startAdapter as start, tinyPolicy, type Adapter } from './helpers/remote-adapter.ts';

const problem = pythonProblem();
const required = process.env.CI === 'true';
if (problem && !required) console.warn(`remote-env tests skipped: ${problem}`);

const adapters: Adapter[] = [];
afterAll(async () => {
  for (const a of adapters) await a.kill();
});

async function startAdapter(port: number, extra: string[] = [], factory = 'make'): Promise<Adapter> {
  const adapter = await start(port, extra, factory);
  adapters.push(adapter);
  return adapter;
}

/** The fixture task in TS (same formulas as test/fixtures/remote_env_reach.py). */
class MirrorReach {
  k = -1;
  x = 0;
  g = 0;
  t = 0;
  reset(seed?: number): Float32Array {
    this.k = seed ?? this.k + 1;
    this.x = ((this.k * 0.6180339887) % 1.0) * 2 - 1;
    this.g = ((this.k * 0.7548776662 + 0.5) % 1.0) * 2 - 1;
    this.t = 0;
    return new Float32Array([this.x, this.g]);
  }
  /** Runs actions until an episode end, as ActionChunk: summed reward and steps. */
  chunk(actions: ArrayLike<number>) {
    let reward = 0;
    let steps = 0;
    let terminated = false;
    let truncated = false;
    for (let i = 0; i < actions.length; i++) {
      const a = Math.min(1, Math.max(-1, actions[i]));
      this.x = Math.min(1, Math.max(-1, this.x + 0.2 * a));
      this.t++;
      const d = Math.abs(this.x - this.g);
      reward += -d;
      steps++;
      terminated = d < 0.02;
      truncated = this.t >= 20;
      if (terminated || truncated) break;
    }
    return { obs: new Float32Array([this.x, this.g]), reward, steps, terminated, truncated };
  }
}

const CHUNK = 4;
const opts = (extra: Partial<RemoteEnvOptions> = {}): RemoteEnvOptions => ({
  open: openWsLink,
  chunk: CHUNK,
  timeoutMs: 5000,
  reconnect: { retries: 30, backoffMs: 50, maxBackoffMs: 400 },
  watchdogMs: 0,
  log: () => {},
  ...extra,
});

describe.skipIf(problem !== null && !required)('remote env through the Python adapter', () => {
  it('has a Python with websockets and numpy (CI installs them)', () => {
    expect(problem).toBeNull();
  });

  it('serves spaces, reset and chunked steps that match the same task in TS, seeded', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0']);
    const env = await RemoteEnv.connect(adapter.url, opts());
    try {
      expect(env.hello.env).toBe('FixtureReach');
      expect(Array.from(env.observationSpace.low)).toEqual([-1, -1]);
      expect(env.actionSpace.size).toBe(CHUNK);
      const mirror = new MirrorReach();
      const rng = Rng.fromSeed(5);
      for (const seed of [3, 11]) {
        const r = await env.reset({ seed });
        expect(Array.from(r.obs)).toEqual(Array.from(mirror.reset(seed)));
        expect(env.observationSpace.contains(r.obs)).toBe(true);
        let chunks = 0;
        for (;;) {
          const actions = Float32Array.from({ length: CHUNK }, () => rng.uniformRange(-1, 1));
          const got = await env.step(actions);
          const want = mirror.chunk(actions);
          chunks++;
          expect(Array.from(got.obs)).toEqual(Array.from(want.obs));
          expect(got.reward).toBe(want.reward);
          expect(got.info.steps).toBe(want.steps);
          expect([got.terminated, got.truncated]).toEqual([want.terminated, want.truncated]);
          if (got.terminated || got.truncated) break;
        }
        expect(chunks).toBeLessThanOrEqual(5);
        await expect(env.step(new Float32Array(CHUNK))).rejects.toThrow(/after the episode ended; call reset\(\) first/);
      }
      // An unseeded reset continues (episode 12), as the TS task does.
      expect(Array.from((await env.reset()).obs)).toEqual(Array.from(mirror.reset()));
      // The same seed gives the same start.
      expect(Array.from((await env.reset({ seed: 3 })).obs)).toEqual(Array.from(mirror.reset(3)));
    } finally {
      env.close();
      await adapter.kill();
    }
  });

  it('a vector env from a ws:// id (as `steer --env ws://...` builds it) connects once per sub-env', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0']);
    const venv = await makeChunkedVectorEnv(adapter.url, 2, CHUNK);
    try {
      expect(venv).toBeInstanceOf(RemoteVectorEnv);
      const { obs } = await venv.reset({ seed: 7 });
      const m0 = new MirrorReach();
      const m1 = new MirrorReach();
      expect(Array.from(obs)).toEqual([...m0.reset(7), ...m1.reset(8)]);
    } finally {
      await venv.close();
      await adapter.kill();
    }
    // Nothing listening: bounded retries, then one line naming the URL, the attempts and the cause.
    await expect(RemoteVectorEnv.connect('ws://127.0.0.1:1', 1, opts({ reconnect: { retries: 2, backoffMs: 10 } }))).rejects.toThrow(
      /ws:\/\/127\.0\.0\.1:1: could not connect after 3 attempts over [\d.]+ s \(last: .*ECONNREFUSED/,
    );
  });

  it('checks the token: refused without it, served with it', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0', '--token', 'secret-token-1']);
    try {
      await expect(RemoteEnv.connect(adapter.url, opts())).rejects.toThrow(/refused the connection \(unauthorized\): missing or wrong token/);
      const env = await RemoteEnv.connect(adapter.url, opts({ token: 'secret-token-1' }));
      expect((await env.reset({ seed: 1 })).obs.length).toBe(2);
      env.close();
    } finally {
      await adapter.kill();
    }
  });

  it('dsrl steer and dsrl eval load a checkpoint folder for --env ws:// (no registered env is probed); other dims still fail', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0']);
    const tmp = mkdtempSync(join(tmpdir(), 'dsrl-remote-ckpt-'));
    saveDiffusionCheckpoint(join(tmp, 'fits'), tinyPolicy(2, 1, CHUNK));
    saveDiffusionCheckpoint(join(tmp, 'other'), tinyPolicy(3, 1, CHUNK));
    // What `dsrl steer --env ws://... --policy <folder>` loads before it connects.
    const policy = await loadPolicyForEnv(join(tmp, 'fits'), adapter.url);
    expect([policy.obsDim, policy.actDim, policy.chunk]).toEqual([2, 1, CHUNK]);
    // `dsrl eval --policy <folder> --env ws://...`: the episodes run on the robot side (20 steps at most each).
    const res = await runEval({ policy: join(tmp, 'fits'), env: adapter.url, episodes: 2, parallel: 1 }, { log: () => {} });
    expect(res.envId).toBe(adapter.url);
    expect(res.lengths).toHaveLength(2);
    for (const n of res.lengths) expect(n).toBeLessThanOrEqual(20);
    // The dims are checked once the env is connected.
    await expect(runEval({ policy: join(tmp, 'other'), env: adapter.url, episodes: 1, parallel: 1 }, { log: () => {} })).rejects.toThrow(
      /base policy does not fit .*observations of dim 3.* observations of dim 2/,
    );
  });

  it('safety: bounds and workspace are clipped, the per-step change is limited, each counted and logged', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0'], 'make_workspace');
    const logs: string[] = [];
    const env = await RemoteEnv.connect(adapter.url, opts({ safety: { maxDelta: 0.3 }, log: (l) => logs.push(l) }));
    try {
      expect(env.hello.workspace).toEqual({ indices: [0], low: [-0.5], high: [0.5] });
      const mirror = new MirrorReach();
      await env.reset({ seed: 2 });
      mirror.reset(2);
      // 5 is out of bounds (-> 1) and out of the workspace (-> 0.5), as is each -1 (-> -0.5); then each moves at most 0.3 from the last.
      const r = await env.step(Float32Array.from([5, -1, -1, 0.4]));
      // What reached the robot: 0.5, 0.2, -0.1, 0.2 (clipped to the bounds, then workspace, then the change limit).
      const a1 = 0.5 - 0.3;
      const a2 = a1 - 0.3;
      // The adapter runs float32 actions (np.float32), as the TS side would from a Float32Array.
      const want = mirror.chunk([0.5, a1, a2, a2 + 0.3].map(Math.fround));
      expect(Array.from(r.obs)).toEqual(Array.from(want.obs));
      expect(r.reward).toBe(want.reward);
      expect(r.info.safety).toEqual({ bounds: 1, workspace: 3, rate: 3, refused: 0 });
      expect(logs.join('\n')).toMatch(
        /1 value\(s\) clipped to the action bounds \(total 1\); 3 value\(s\) clipped into the workspace box \(total 3\); 3 value\(s\) limited to the per-step change limit \(total 3\)/,
      );
      // Across chunks: the last action sent (0.2) bounds the next chunk's first.
      const r2 = await env.step(Float32Array.from([-0.5, -0.5, -0.5, -0.5]));
      expect((r2.info.safety as { rate: number }).rate).toBe(3 + 2); // 0.2 -> -0.1 -> -0.4 limited, then -0.5 is within 0.3
      // A non-finite action is refused: nothing is sent, stop goes out, the error names step and dim.
      await expect(env.step(Float32Array.from([0, NaN, 0, 0]))).rejects.toThrow(
        /safety: refused a chunk with a non-finite action \(step 1, dim 0: NaN\); nothing was sent/,
      );
      await adapter.waitFor(/^stop: stop from dsrl \(dsrl error: .*non-finite/);
    } finally {
      env.close();
      await adapter.kill();
    }
  });

  it('safety: bounds "refuse" refuses an out-of-bounds chunk instead of clipping it', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0']);
    const env = await RemoteEnv.connect(adapter.url, opts({ safety: { bounds: 'refuse' } }));
    try {
      await env.reset({ seed: 1 });
      await expect(env.step(Float32Array.from([0, 0, 1.5, 0]))).rejects.toThrow(
        /refused a chunk outside the action bounds \(step 2, dim 0: 1\.5 not in \[-1, 1\]\)/,
      );
    } finally {
      env.close();
      await adapter.kill();
    }
  });

  it('an env error on the robot side comes back as one line, and the adapter stops and keeps serving', async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0'], 'make_failing');
    const env = await RemoteEnv.connect(adapter.url, opts());
    try {
      await env.reset({ seed: 1 });
      await expect(env.step(new Float32Array(CHUNK))).rejects.toThrow(
        /the robot side answered step with an error \(env-error\): RuntimeError\('motor fault'\)$/,
      );
      await adapter.waitFor(/^stop: env error RuntimeError\('motor fault'\)/);
      expect((await env.reset({ seed: 2 })).obs.length).toBe(2);
    } finally {
      env.close();
      await adapter.kill();
    }
  });

  it("watchdog: dsrl's sends stop when the learner stalls; the adapter's own stops it when dsrl is silent; latency measured", async () => {
    const adapter = await startAdapter(await freePort(), ['--rate', '0', '--watchdog', '0.6']);
    try {
      // dsrl's watchdog (200 ms) fires before the adapter's (600 ms).
      const env = await RemoteEnv.connect(adapter.url, opts({ watchdogMs: 200 }));
      await env.reset({ seed: 1 });
      await env.step(new Float32Array(CHUNK));
      const lastReply = performance.now();
      const from = adapter.lines.length;
      const stop = await adapter.waitFor(/^stop: stop from dsrl \(watchdog: no request for 200 ms\)/, 3000, from);
      const dsrlLatency = stop.t - lastReply - 200; // to the adapter's printed line, read back here
      expect(env.stopsSent).toBe(1);
      env.close();
      // The adapter's own watchdog (dsrl's off, dsrl alive but silent).
      const quiet = await RemoteEnv.connect(adapter.url, opts({ watchdogMs: 0 }));
      await quiet.reset({ seed: 1 });
      const resetAt = performance.now();
      const from2 = adapter.lines.length;
      const own = await adapter.waitFor(/^stop: watchdog: nothing from dsrl for (\d+) ms/, 3000, from2);
      const idle = Number(/for (\d+) ms/.exec(own.text)![1]);
      const ownLatency = idle - 600; // on the adapter's clock: from its last reply to its stop
      const seenHere = own.t - resetAt; // on ours: from the reset reply to the printed stop line
      console.log(
        `remote env watchdog: dsrl stop reached the adapter ${dsrlLatency.toFixed(1)} ms after its 200 ms limit; ` +
          `the adapter stopped itself ${ownLatency} ms after its 600 ms limit (seen here ${seenHere.toFixed(1)} ms after the reset reply)`,
      );
      expect(dsrlLatency).toBeGreaterThanOrEqual(-5);
      expect(dsrlLatency).toBeLessThan(100);
      expect(ownLatency).toBeGreaterThanOrEqual(0);
      expect(ownLatency).toBeLessThan(100);
      expect(seenHere).toBeLessThan(600 + 100);
      quiet.close();
    } finally {
      await adapter.kill();
    }
  });

  it('steer (DSRL-NA) over ws:// survives the adapter being killed and restarted: the run finishes, steps and updates as the buffer implies', async () => {
    const port = await freePort();
    let adapter = await startAdapter(port, ['--rate', '0']);
    const logs: string[] = [];
    // Every train vector step, as the loop sees it, to recompute the loop's counters.
    const record: { valid: boolean; stored: boolean; steps: number; ended: boolean; linkLost: boolean }[] = [];
    let trainStepsSent = 0;
    let killed = false;
    let restarted: Promise<void> | null = null;
    let made = 0;
    const makeInner = async (n: number, chunk: number): Promise<VectorEnv> => {
      const isTrain = made++ === 0;
      const venv = await RemoteVectorEnv.connect(adapter.url, n, opts({ chunk, log: (l) => (logs.push(l), process.env.RDEBUG && console.error(l)) }));
      if (!isTrain) return venv;
      const ended = new Array<boolean>(n).fill(false);
      const step = venv.step.bind(venv);
      venv.step = async (actions): Promise<VectorStepResult> => {
        if (++trainStepsSent >= 15 && !killed && !ended[0]) {
          // Kill the adapter mid-episode; bring a fresh one up on the same port 300 ms later.
          killed = true;
          await adapter.kill();
          restarted = new Promise((r) => setTimeout(r, 300)).then(async () => {
            adapter = await startAdapter(port, ['--rate', '0']);
          });
        }
        const r = await step(actions);
        for (let i = 0; i < n; i++) {
          record.push({
            // The loop stores a row for every step but the autoreset one and a chunk lost with the link.
            valid: !ended[i],
            stored: !ended[i] && r.infos[i].link_lost !== true,
            steps: (r.infos[i].steps as number) || 1,
            ended: r.terminated[i] || r.truncated[i],
            linkLost: r.infos[i].link_lost === true,
          });
          ended[i] = r.terminated[i] || r.truncated[i];
        }
        return r;
      };
      return venv;
    };
    const cfg = {
      env: `ws://127.0.0.1:${port}`,
      algo: 'na',
      steps: 240,
      learningStarts: 40,
      numEnvs: 1,
      utd: 2,
      batchSize: 16,
      distillSteps: 1,
      actorHidden: [8],
      criticHidden: [8],
      evalEvery: 0,
      evalEpisodes: 1,
      quiet: true,
      out: join(mkdtempSync(join(tmpdir(), 'dsrl-remote-env-')), 'run'),
    };
    const policy = tinyPolicy(2, 1, CHUNK);
    const t0 = performance.now();
    const res = await steer(cfg, policy, makeInner);
    await restarted;
    // The loop's own rules (offpolicy.ts) applied to what the env returned.
    let envSteps = 0;
    let rows = 0;
    let updates = 0;
    for (const s of record) {
      const warmup = envSteps < cfg.learningStarts;
      if (s.valid) envSteps += s.steps;
      if (s.stored) rows++;
      if (!warmup && rows >= cfg.batchSize) updates += cfg.utd;
    }
    console.log(
      `remote env steer: ${res.step} env steps, ${rows} buffer rows, ${res.updates} updates, ${record.filter((s) => s.linkLost).length} episode(s) lost with the link, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(record.filter((s) => s.linkLost)).toHaveLength(1);
    expect(logs.some((l) => /link lost .*reconnecting/.test(l))).toBe(true);
    expect(logs.some((l) => /the episode was lost with the link; it ends here as truncated/.test(l))).toBe(true);
    expect(res.step).toBe(envSteps);
    expect(res.step).toBeGreaterThanOrEqual(cfg.steps);
    expect(res.updates).toBe(updates);
    expect(res.updates).toBeGreaterThan(0);
    expect(res.evals.at(-1)?.mean).toBeLessThan(0); // the final evaluation ran over the restarted link
  }, 30_000);
});

describe('remote env replies that break the protocol', () => {
  async function fakeServer(replies: (msg: { type: string; id: number }) => string, hello?: string) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const good = {
      type: 'hello',
      version: 1,
      env: 'Fake',
      spaces: { observation: { low: [null, null], high: [null, null] }, action: { low: [-1], high: [1] } },
    };
    wss.on('connection', (ws) => {
      ws.send(hello ?? JSON.stringify(good));
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.type !== 'stop') ws.send(replies(msg));
      });
    });
    return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, close: () => new Promise((r) => wss.close(r)) };
  }

  const cases: [string, (m: { type: string; id: number }) => string, RegExp][] = [
    [
      'a NaN observation (as Python writes it)',
      (m) => `{"type": "reset", "id": ${m.id}, "obs": [0.5, NaN], "info": {}}`,
      /reply to reset: 'reset' message: field 'obs\[1\]' must be a finite number, got NaN$/,
    ],
    [
      'a missing reward',
      (m) =>
        m.type === 'reset'
          ? JSON.stringify({ type: 'reset', id: m.id, obs: [0, 0] })
          : JSON.stringify({ type: 'step', id: m.id, obs: [0, 0], terminated: false, truncated: false, steps: 4 }),
      /'step' message: field 'reward' must be a finite number, got missing$/,
    ],
    [
      'an Infinity reward',
      (m) =>
        m.type === 'reset'
          ? JSON.stringify({ type: 'reset', id: m.id, obs: [0, 0] })
          : `{"type": "step", "id": ${m.id}, "obs": [0, 0], "reward": -Infinity, "terminated": false, "truncated": false, "steps": 4}`,
      /field 'reward' must be a finite number, got -Infinity$/,
    ],
    [
      'an observation of the wrong length',
      (m) => JSON.stringify({ type: 'reset', id: m.id, obs: [0, 0, 0] }),
      /field 'obs' must have 2 values, got 3$/,
    ],
    [
      'an unknown message type',
      () => JSON.stringify({ type: 'observation' }),
      /unknown message type string "observation" \(expected hello, reset, step or error\)$/,
    ],
    ['not JSON', () => '{obs: 1', /reply to reset: not valid JSON/],
    [
      'more steps than sent',
      (m) =>
        m.type === 'reset'
          ? JSON.stringify({ type: 'reset', id: m.id, obs: [0, 0] })
          : JSON.stringify({ type: 'step', id: m.id, obs: [0, 0], reward: 0, terminated: false, truncated: false, steps: 9 }),
      /field 'steps' is 9, more than the 4 actions sent$/,
    ],
  ];
  for (const [what, reply, message] of cases) {
    it(`refuses ${what} with one line naming the field`, async () => {
      const server = await fakeServer(reply);
      const env = await RemoteEnv.connect(server.url, opts());
      try {
        const err = await (async () => {
          await env.reset({ seed: 0 });
          await env.step(new Float32Array(CHUNK));
        })().then(
          () => null,
          (e: Error) => e,
        );
        expect(err?.message).toMatch(message);
        expect(err?.message).not.toContain('\n');
      } finally {
        env.close();
        await server.close();
      }
    });
  }

  it('refuses a hello of another version, or with NaN or missing action bounds, naming the field', async () => {
    const hellos: [unknown, RegExp][] = [
      [{ type: 'hello', version: 2, spaces: {} }, /field 'version' must be 1 \(the version this dsrl speaks\), got number 2/],
      [
        { type: 'hello', version: 1, spaces: { observation: { low: [0], high: [1] }, action: { low: [null], high: [1] } } },
        /field 'spaces.action' must have finite bounds/,
      ],
      [{ type: 'hello', version: 1, spaces: { observation: { low: [0], high: [1] } } }, /field 'spaces.action' must be an object, got missing/],
      [{ type: 'reset', id: 1, obs: [] }, /expected a hello first, got a 'reset' message/],
    ];
    for (const [hello, message] of hellos) {
      const server = await fakeServer(() => '', JSON.stringify(hello));
      await expect(RemoteEnv.connect(server.url, opts())).rejects.toThrow(message);
      await server.close();
    }
  });
});

describe('remote env link', () => {
  it('refuses to connect to a non-loopback robot side without a token, before opening a socket', async () => {
    await expect(openWsLink('ws://192.0.2.1:8770', undefined)).rejects.toThrow(
      /ws:\/\/192\.0\.2\.1:8770: refusing to connect to a non-loopback robot side without a token \(set DSRL_ENV_TOKEN\)/,
    );
  });
});
