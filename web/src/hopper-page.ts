/**
 * The in-page Hopper training (hopper.html): starts, pauses and resumes `dsrl demo` in a Web Worker
 * (hopper-worker.ts) and shows its progress: env steps, speed, the evaluation returns against env steps beside
 * the base policy's (chart.ts), and the recorded episodes of both policies in three.js (scene.ts), looping.
 *
 * `window.dsrlHopper` exposes the state for scripts and test/web-hopper.test.ts; `window.dsrlHopperStart(config,
 * backend)` starts a run with some of the config changed (the test's short runs), or on the TypeScript backend.
 */
import './style.css';
import * as THREE from 'three';
import { HOPPER_DEMO_CONFIG, type HopperConfig } from '../../src/web/hopper-config.ts';
import type { HopperProgress } from '../../src/web/hopper-training.ts';
import type { RecordedEpisode } from '../../src/run/episode-format.ts';
import { EvalChart } from './chart.ts';
import type { HopperPageState } from './hopper-state.ts';
import type { HopperWorkerIn, HopperWorkerOut } from './hopper-worker.ts';
import { EpisodeView } from './scene.ts';

const WIDTH = 960;
const HEIGHT = 400;
const PANE = WIDTH / 2;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const button = $<HTMLButtonElement>('start');
const bar = $<HTMLProgressElement>('progress');
const status = $<HTMLSpanElement>('status');
const labels = [$<HTMLSpanElement>('label-0'), $<HTMLSpanElement>('label-1')];
const chart = new EvalChart($('chart'), WIDTH);
const state: HopperPageState = { status: 'idle', progress: null, result: null, seconds: null, sps: null, phases: [], error: null, panes: [] };
window.dsrlHopper = state;
let worker: Worker | null = null;

// preserveDrawingBuffer: the pixels stay readable after a frame (screenshots, the browser tests).
const renderer = new THREE.WebGLRenderer({ canvas: $<HTMLCanvasElement>('scene'), antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(WIDTH, HEIGHT, false);
renderer.setScissorTest(true);
/** The panes: the base policy's episode, the newest steered one; each loops from when it arrived. */
const panes: ({ episode: RecordedEpisode; view: EpisodeView; t0: number } | null)[] = [null, null];
let simTime = 0;
let last = performance.now();

const fmt = (v: number) => v.toFixed(1);

function labelOf(ep: RecordedEpisode): string {
  const when = ep.trainedSteps ? ` after ${ep.trainedSteps} env steps` : '';
  return `${ep.label}${when}: return ${fmt(ep.return)}, ${ep.length} steps`;
}

function setPane(i: number, episode: RecordedEpisode | null): void {
  const shown = panes[i];
  if (!episode || shown?.episode.trainedSteps === episode.trainedSteps) return;
  shown?.view.dispose();
  panes[i] = { episode, view: new EpisodeView(episode), t0: simTime };
  labels[i].textContent = labelOf(episode);
}

function draw(now: number): void {
  simTime += Math.min(0.1, (now - last) / 1000);
  last = now;
  renderer.setScissor(0, 0, WIDTH, HEIGHT);
  renderer.setClearColor(0xf0f0f0);
  renderer.clear();
  state.panes = [];
  panes.forEach((pane, i) => {
    if (!pane) return;
    const { view, t0 } = pane;
    // Each episode loops on its own, with a short rest at its end.
    view.showTime(Math.max(0, simTime - t0) % (view.duration + 0.5));
    state.panes.push({ label: labels[i].textContent ?? '', frame: view.frame, frames: view.frames });
    const x = i * (PANE + 1);
    view.camera.aspect = (PANE - 1) / HEIGHT;
    view.camera.updateProjectionMatrix();
    renderer.setViewport(x, 0, PANE - 1, HEIGHT);
    renderer.setScissor(x, 0, PANE - 1, HEIGHT);
    renderer.render(view.scene, view.camera);
  });
  requestAnimationFrame(draw);
}

function show(p: HopperProgress, seconds: number): void {
  if (state.phases.at(-1)?.phase !== p.phase) state.phases.push({ phase: p.phase, seconds, envSteps: p.envSteps });
  state.progress = p;
  state.seconds = seconds;
  state.sps = seconds > 0 ? p.envSteps / seconds : null;
  const phases = {
    base: 'evaluating the base policy',
    warmup: 'warm-up: the base policy with N(0, I) noise',
    learn: 'DSRL-NA learning',
    done: 'done',
  };
  bar.value = p.envSteps / p.total;
  const parts = [`${phases[p.phase]}: ${p.envSteps} / ${p.total} env steps`];
  if (state.sps !== null && p.envSteps > 0) parts.push(`${state.sps.toFixed(0)} env steps/s`);
  if (p.updates > 0) parts.push(`${p.updates} updates`);
  if (p.base) parts.push(`base policy return ${fmt(p.base.mean)}`);
  const lastEval = p.evals.at(-1);
  if (lastEval) parts.push(`steered ${fmt(lastEval.mean)} ± ${fmt(lastEval.std)} after ${lastEval.step}`);
  parts.push(`${p.backend} backend`);
  status.textContent = parts.join(', ');
  setPane(0, p.episodes.base);
  setPane(1, p.episodes.steered);
  if (p.base) {
    chart.update({
      xAxis: 'env steps',
      evals: p.evals.map((e) => ({ step: e.step, mean: e.mean, std: e.std })),
      references: [{ name: 'base policy', step: null, mean: p.base.mean, std: p.base.std }],
    });
  }
}

function start(config: Partial<HopperConfig> = {}, backend: 'auto' | 'js' = 'auto'): void {
  worker?.terminate();
  chart.clear();
  panes.forEach((p) => p?.view.dispose());
  panes.fill(null);
  labels.forEach((l) => (l.textContent = ''));
  Object.assign(state, { status: 'running', progress: null, result: null, seconds: null, sps: null, phases: [], error: null });
  status.textContent = 'loading MuJoCo, the NN backend and models/hopper';
  worker = new Worker(new URL('./hopper-worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<HopperWorkerOut>) => {
    const m = e.data;
    if (m.type === 'progress') {
      show(m.progress, m.seconds);
      if (state.status === 'running' || state.status === 'paused') state.status = m.paused ? 'paused' : 'running';
    } else if (m.type === 'done') {
      Object.assign(state, { status: 'done', result: m.result, seconds: m.seconds, sps: m.result.envSteps / m.seconds });
      const best = m.result.evals.reduce((a, b) => (b.mean > a.mean ? b : a), m.result.evals[0]);
      status.textContent =
        `done: ${m.result.envSteps} env steps in ${m.seconds.toFixed(0)} s (${state.sps!.toFixed(0)} env steps/s); base policy return ` +
        `${fmt(m.result.base.mean)}, steered ${best ? `${fmt(best.mean)} (best, after ${best.step})` : 'not evaluated'}`;
      button.textContent = 'start again';
    } else {
      Object.assign(state, { status: 'error', error: m.message });
      // MuJoCo's Emscripten glue builds functions from strings (embind), which a policy without 'unsafe-eval' forbids.
      const hint = /Content Security Policy/i.test(m.message)
        ? " (MuJoCo's WebAssembly glue evaluates generated JavaScript, which this server's Content-Security-Policy forbids, as dsrl view's does: open hopper.html from the static site, npm run build:web and any static file server)"
        : '';
      status.textContent = `error: ${m.message}${hint}`;
      button.textContent = 'start again';
    }
  };
  worker.onerror = (e) => {
    Object.assign(state, { status: 'error', error: e.message || 'the worker failed to load' });
    status.textContent = `error: ${state.error}`;
  };
  worker.postMessage({ type: 'start', config, backend } satisfies HopperWorkerIn);
  button.textContent = 'pause';
}

button.onclick = () => {
  if (state.status === 'running' || state.status === 'paused') {
    const pausing = button.textContent === 'pause';
    worker?.postMessage({ type: pausing ? 'pause' : 'resume' } satisfies HopperWorkerIn);
    button.textContent = pausing ? 'resume' : 'pause';
  } else {
    start();
  }
};
window.dsrlHopperStart = start;
status.textContent = `dsrl demo: DSRL-NA on models/hopper for ${HOPPER_DEMO_CONFIG.steps} env steps, all in a Web Worker`;
requestAnimationFrame(draw);
