/**
 * The in-page training page (toy.html): starts, pauses and resumes the toy's Web Worker (toy-worker.ts) and
 * draws its progress: the success rate against env steps beside the cloned policy's (chart.ts), and the actions
 * of 100 contexts, the base policy's and the steered ones, over the rewarded half-plane.
 *
 * `window.dsrlToy` exposes the state for scripts and test/web-toy.test.ts; `window.dsrlToyStart(config, backend)`
 * starts a run with some of the config changed, or on the TypeScript backend (the test's runs compared with Node's).
 */
import './style.css';
import { TOY_RECIPES, type ToyConfig } from '../../src/web/toy-config.ts';
import type { ToyProgress } from '../../src/web/toy-training.ts';
import { EvalChart } from './chart.ts';
import type { ToyPageState } from './toy-state.ts';
import type { ToyWorkerIn, ToyWorkerOut } from './toy-worker.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const button = $<HTMLButtonElement>('start');
const bar = $<HTMLProgressElement>('progress');
const status = $<HTMLSpanElement>('status');
const canvas = $<HTMLCanvasElement>('actions');
const chart = new EvalChart($('chart'), 520);
const state: ToyPageState = { status: 'idle', progress: null, result: null, seconds: null, error: null };
window.dsrlToy = state;
let worker: Worker | null = null;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function drawActions(p: ToyProgress | null): void {
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  const S = 1.2; // actions lie in [-1, 1]^2
  const px = (x: number) => ((x + S) / (2 * S)) * w;
  const py = (y: number) => ((S - y) / (2 * S)) * h;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  // The rewarded half-plane a0 + a1 > 0.
  ctx.fillStyle = '#e3f4e0';
  ctx.beginPath();
  ctx.moveTo(px(-S), py(S));
  ctx.lineTo(px(S), py(S));
  ctx.lineTo(px(S), py(-S));
  ctx.closePath();
  ctx.fill();
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(px(-1), py(1), px(1) - px(-1), py(-1) - py(1));
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#555';
  ctx.fillText('a0', w - 18, py(0) - 4);
  ctx.fillText('a1', px(0) + 4, 12);
  const dots = (xy: number[] | undefined | null, color: string) => {
    if (!xy) return;
    ctx.fillStyle = color;
    for (let i = 0; i + 1 < xy.length; i += 2) {
      ctx.beginPath();
      ctx.arc(px(xy[i]), py(xy[i + 1]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  };
  dots(p?.actions?.base, 'rgba(110, 110, 110, 0.55)');
  dots(p?.actions?.steered, 'rgba(214, 39, 40, 0.8)');
}

function show(p: ToyProgress): void {
  state.progress = p;
  const phases = { clone: 'cloning the base policy', steer: 'steering with DSRL-NA', done: 'done' };
  bar.value = p.phase === 'clone' ? 0.5 * (p.done / p.total) : p.phase === 'steer' ? 0.5 + 0.5 * (p.done / p.total) : 1;
  const parts = [`${phases[p.phase]}: ${p.done} / ${p.total} ${p.phase === 'clone' ? 'steps' : 'env steps'}`];
  if (p.phase === 'clone' && p.cloneLoss !== null) parts.push(`loss ${p.cloneLoss.toFixed(3)}`);
  if (p.base !== null) parts.push(`base policy ${pct(p.base)}`);
  const last = p.evals.at(-1);
  if (last) parts.push(`steered ${pct(last.successRate)}`);
  parts.push(`${p.backend} backend`);
  status.textContent = parts.join(', ');
  drawActions(p);
  if (p.base !== null) {
    chart.update({
      xAxis: 'env steps',
      evals: p.evals.map((e) => ({ step: e.step, mean: e.successRate, std: null, successRate: e.successRate })),
      references: [{ name: 'base policy', step: null, mean: p.base, std: null, successRate: p.base }],
    });
  }
}

function start(config: Partial<ToyConfig> = {}, backend: 'auto' | 'js' = 'auto'): void {
  worker?.terminate();
  chart.clear();
  Object.assign(state, { status: 'running', progress: null, result: null, seconds: null, error: null });
  worker = new Worker(new URL('./toy-worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<ToyWorkerOut>) => {
    const m = e.data;
    if (m.type === 'progress') {
      show(m.progress);
      if (state.status === 'running' || state.status === 'paused') state.status = m.paused ? 'paused' : 'running';
    } else if (m.type === 'done') {
      Object.assign(state, { status: 'done', result: m.result, seconds: m.seconds });
      status.textContent = `done in ${m.seconds.toFixed(1)} s: base policy ${pct(m.result.base)}, steered ${pct(m.result.final)} success`;
      button.textContent = 'start again';
    } else {
      Object.assign(state, { status: 'error', error: m.message });
      status.textContent = `error: ${m.message}`;
      button.textContent = 'start again';
    }
  };
  worker.onerror = (e) => {
    Object.assign(state, { status: 'error', error: e.message || 'the worker failed to load' });
    status.textContent = `error: ${state.error}`;
  };
  worker.postMessage({ type: 'start', config, backend } satisfies ToyWorkerIn);
  button.textContent = 'pause';
}

button.onclick = () => {
  if (state.status === 'running' || state.status === 'paused') {
    const pausing = button.textContent === 'pause';
    worker?.postMessage({ type: pausing ? 'pause' : 'resume' } satisfies ToyWorkerIn);
    button.textContent = pausing ? 'resume' : 'pause';
  } else {
    start({ ...TOY_RECIPES[$<HTMLSelectElement>('recipe').value as keyof typeof TOY_RECIPES] });
  }
};
window.dsrlToyStart = start;
drawActions(null);
