/**
 * The viewer page: for the chosen run, the base policy's recorded episode and the steered agent's side by
 * side (one WebGL canvas, two viewports), played at simulated speed, and the run's evaluations against
 * env steps with the base policy's line (uPlot). Data comes from the viewer server's /api (src/web/server.ts).
 *
 * `window.dsrlViewer` exposes what is shown (frames, chart data, where geoms are drawn) for scripts and
 * the browser test.
 */
import * as THREE from 'three';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { decodeEpisode, type RecordedEpisode } from '../../src/run/episode-format.ts';
import { EpisodeView } from './scene.ts';
import type { ViewerState } from './viewer-state.ts';

interface RunInfo {
  id: number;
  name: string;
  env: string | null;
  algo: string | null;
  episodes: string[];
}
interface Point {
  step: number;
  mean: number;
  std: number | null;
  successRate?: number;
}
interface Metrics {
  xAxis: string;
  evals: Point[];
  references: (Omit<Point, 'step'> & { name: string })[];
}

const token = new URLSearchParams(location.search).get('token');
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLSpanElement>('status');
const canvas = $<HTMLCanvasElement>('scene');
const WIDTH = canvas.width;
const HEIGHT = canvas.height;
const PANE = WIDTH / 2;

async function get(path: string): Promise<Response> {
  const res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.text()).trim()}`);
  return res;
}

const state: ViewerState = { ready: false, error: null, run: 0, panes: [], chart: null, geomScreen: () => [] };
window.dsrlViewer = state;

// preserveDrawingBuffer: the pixels stay readable after a frame (screenshots, the browser test).
const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(WIDTH, HEIGHT, false);
renderer.setScissorTest(true);

let views: EpisodeView[] = [];
let chart: uPlot | null = null;
let playing = true;
let simTime = 0;
let last = performance.now();

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));

function labelOf(ep: RecordedEpisode): string {
  const when = ep.trainedSteps ? ` after ${ep.trainedSteps} env steps` : '';
  const success = ep.success === undefined ? '' : ep.success ? ', success' : ', no success';
  return `${ep.label}${when}: return ${fmt(ep.return)}, ${ep.length} steps${success}`;
}

function draw(now: number): void {
  const dt = Math.min(0.1, (now - last) / 1000);
  last = now;
  if (playing) simTime += dt;
  views.forEach((view, i) => {
    // Each episode loops on its own, with a short rest at its end.
    view.showTime(simTime % (view.duration + 0.5));
    state.panes[i].frame = view.frame;
    // A 2-pixel gap between the panes.
    const x = views.length === 1 ? 0 : i * (PANE + 1);
    const w = views.length === 1 ? WIDTH : PANE - 1;
    view.camera.aspect = w / HEIGHT;
    view.camera.updateProjectionMatrix();
    renderer.setViewport(x, 0, w, HEIGHT);
    renderer.setScissor(x, 0, w, HEIGHT);
    renderer.render(view.scene, view.camera);
  });
  if (views.length === 2) {
    renderer.setScissor(PANE - 1, 0, 2, HEIGHT);
    renderer.setClearColor(0xffffff);
    renderer.clear();
  }
  requestAnimationFrame(draw);
}

function drawChart(metrics: Metrics): void {
  const bySuccess = [...metrics.evals, ...metrics.references].some((e) => e.successRate !== undefined);
  const y = (e: Omit<Point, 'step'>) => (bySuccess ? (e.successRate ?? 0) : e.mean);
  const xs = metrics.evals.map((e) => e.step);
  // Reference lines span the evaluated range (from 0, where they were measured).
  const x = [...new Set([0, ...xs])].sort((a, b) => a - b);
  const series: Record<string, (number | null)[]> = {
    steered: x.map((s) => {
      const e = metrics.evals.find((p) => p.step === s);
      return e ? y(e) : null;
    }),
  };
  for (const ref of metrics.references) series[ref.name] = x.map(() => y(ref));
  const yLabel = bySuccess ? 'success rate' : 'eval return';
  state.chart = { x, series, yLabel };
  chart?.destroy();
  const colors = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd'];
  chart = new uPlot(
    {
      width: WIDTH,
      height: 260,
      scales: { x: { time: false } },
      axes: [{ label: metrics.xAxis }, { label: yLabel }],
      series: [
        {},
        ...Object.keys(series).map((name, i) => ({
          label: name,
          stroke: colors[i % colors.length],
          width: 2,
          dash: i === 0 ? undefined : [6, 4],
          points: { show: i === 0, size: 7 },
          spanGaps: true,
        })),
      ],
    },
    [x, ...Object.values(series)] as uPlot.AlignedData,
    $('chart'),
  );
}

async function loadRun(run: RunInfo): Promise<void> {
  state.ready = false;
  state.run = run.id;
  status.textContent = `${run.name}: loading…`;
  const metrics = (await (await get(`/api/runs/${run.id}/metrics`)).json()) as Metrics;
  drawChart(metrics);
  // The base policy on the left, the steered agent on the right (whichever of them the run has).
  const names = ['base', 'agent'].filter((n) => run.episodes.includes(n));
  if (names.length === 0 && run.episodes.length > 0) names.push(run.episodes[0]);
  const episodes = await Promise.all(
    names.map(async (n) => decodeEpisode(new Uint8Array(await (await get(`/api/runs/${run.id}/episodes/${n}`)).arrayBuffer()), n)),
  );
  views.forEach((v) => v.dispose());
  views = episodes.map((ep) => new EpisodeView(ep));
  state.panes = views.map((v, i) => ({ name: names[i], frame: 0, frames: v.frames }));
  state.geomScreen = (pane) => {
    const view = views[pane];
    if (!view) return [];
    const offset = views.length === 1 ? 0 : pane * (PANE + 1);
    return view.geomScreen(views.length === 1 ? WIDTH : PANE - 1, HEIGHT).map((p) => ({ x: p.x + offset, y: p.y }));
  };
  [0, 1].forEach((i) => {
    $(`label-${i}`).textContent = episodes[i] ? labelOf(episodes[i]) : '';
    $(`label-${i}`).style.left = `${(views.length === 1 ? 0 : i * PANE) + 6}px`;
  });
  simTime = 0;
  const env = run.env ?? episodes[0]?.env ?? '';
  status.textContent = `${run.name} (${[run.algo, env].filter(Boolean).join(' on ')}): ${metrics.evals.length} evaluations${
    episodes.length === 0 ? ', no recorded episodes' : ''
  }`;
  state.ready = true;
}

async function start(): Promise<void> {
  const runs = (await (await get('/api/runs')).json()) as RunInfo[];
  const select = $<HTMLSelectElement>('run');
  for (const run of runs) select.add(new Option(run.name, String(run.id)));
  select.hidden = runs.length < 2;
  select.onchange = () => void loadRun(runs[Number(select.value)]).catch(fail);
  const button = $<HTMLButtonElement>('play');
  button.onclick = () => {
    playing = !playing;
    button.textContent = playing ? 'pause' : 'play';
  };
  await loadRun(runs[0]);
  requestAnimationFrame(draw);
}

function fail(err: unknown): void {
  state.error = err instanceof Error ? err.message : String(err);
  status.textContent = `error: ${state.error}`;
}

start().catch(fail);
