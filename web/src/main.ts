/**
 * The viewer page: for the chosen run, the base policy's recorded episode and the steered agent's side by
 * side (one WebGL canvas, two viewports), played at simulated speed, and the run's evaluations against
 * env steps with the base policy's line (chart.ts), and below it the training losses (loss-chart.ts). Served by
 * `dsrl view` it follows its runs live: each new evaluation adds its point and replaces the steered pane's
 * episode, and the loss chart grows as metrics.jsonl does (sources.ts, src/web/run-watch.ts).
 * Served by any static file server it shows the demos bundled at build time and run files the user picks.
 *
 * `window.dsrlViewer` exposes what is shown (frames, chart data, live updates, where geoms are drawn) for
 * scripts and the browser tests.
 */
import * as THREE from 'three';
import './style.css';
import type { RecordedEpisode } from '../../src/run/episode-format.ts';
import type { RunLosses } from '../../src/web/run-losses.ts';
import { EvalChart } from './chart.ts';
import { ALL, LossChart } from './loss-chart.ts';
import { pickedFromDrop, pickedFromInput } from './picked-files.ts';
import { EpisodeView } from './scene.ts';
import { ServerSource, StaticSource, type RunSource, type RunVersion } from './sources.ts';
import type { ViewerState } from './viewer-state.ts';

const token = new URLSearchParams(location.search).get('token');
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLSpanElement>('status');
const select = $<HTMLSelectElement>('run');
const canvas = $<HTMLCanvasElement>('scene');
const WIDTH = canvas.width;
const HEIGHT = canvas.height;
const PANE = WIDTH / 2;

const state: ViewerState = {
  mode: null,
  ready: false,
  error: null,
  run: 0,
  panes: [],
  chart: null,
  losses: null,
  live: { connected: false, updates: 0, evalCounts: [], appliedAt: [] },
  geomScreen: () => [],
};
window.dsrlViewer = state;

// preserveDrawingBuffer: the pixels stay readable after a frame (screenshots, the browser tests).
const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(WIDTH, HEIGHT, false);
renderer.setScissorTest(true);
const chart = new EvalChart($('chart'), WIDTH);
const lossChart = new LossChart($('losses'), WIDTH);
const lossKey = $<HTMLSelectElement>('loss-key');
const lossLog = $<HTMLInputElement>('loss-log');

interface Pane {
  name: string;
  /** The episode file's version (RunVersion); a new one replaces the pane. */
  version: string;
  view: EpisodeView;
  /** simTime when the pane's episode started playing: a new episode plays from its start. */
  t0: number;
}

let source: RunSource;
let panes: Pane[] = [];
let stopWatch: (() => void) | null = null;
/** Bumped when another run is chosen: updates still on their way for the old one are dropped. */
let generation = 0;
let shownMetrics: string | null | undefined;
let shownLosses: string | null | undefined;
let losses: RunLosses | null = null;
let evalCount = 0;
let pending: RunVersion | null = null;
let applying = false;
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
  panes.forEach(({ view, t0 }, i) => {
    // Each episode loops on its own, with a short rest at its end.
    view.showTime(Math.max(0, simTime - t0) % (view.duration + 0.5));
    state.panes[i].frame = view.frame;
    // A 2-pixel gap between the panes.
    const x = panes.length === 1 ? 0 : i * (PANE + 1);
    const w = panes.length === 1 ? WIDTH : PANE - 1;
    view.camera.aspect = w / HEIGHT;
    view.camera.updateProjectionMatrix();
    renderer.setViewport(x, 0, w, HEIGHT);
    renderer.setScissor(x, 0, w, HEIGHT);
    renderer.render(view.scene, view.camera);
  });
  if (panes.length === 0) {
    renderer.setScissor(0, 0, WIDTH, HEIGHT);
    renderer.setClearColor(0xf0f0f0);
    renderer.clear();
  } else if (panes.length === 2) {
    renderer.setScissor(PANE - 1, 0, 2, HEIGHT);
    renderer.setClearColor(0xffffff);
    renderer.clear();
  }
  requestAnimationFrame(draw);
}

/** The base policy on the left, the steered agent on the right (whichever of them the run has), else the first two. */
function paneNames(names: string[]): string[] {
  const known = ['base', 'agent'].filter((n) => names.includes(n));
  return known.length > 0 ? known : [...names].sort().slice(0, 2);
}

function showPanes(next: Pane[]): void {
  for (const p of panes) if (!next.includes(p)) p.view.dispose();
  panes = next;
  state.panes = panes.map((p) => ({ name: p.name, frame: p.view.frame, frames: p.view.frames, trainedSteps: p.view.episode.trainedSteps }));
  state.geomScreen = (i) => {
    const view = panes[i]?.view;
    if (!view) return [];
    const offset = panes.length === 1 ? 0 : i * (PANE + 1);
    return view.geomScreen(panes.length === 1 ? WIDTH : PANE - 1, HEIGHT).map((p) => ({ x: p.x + offset, y: p.y }));
  };
  [0, 1].forEach((i) => {
    $(`label-${i}`).textContent = panes[i] ? labelOf(panes[i].view.episode) : '';
    $(`label-${i}`).style.left = `${(panes.length === 1 ? 0 : i * PANE) + 6}px`;
  });
}

/** Draws `losses` with the menu's choice of series and scale; hides the chart while there are none. */
function drawLosses(): void {
  const keys = losses?.keys ?? [];
  $('loss-ui').hidden = keys.length === 0 && !$('loss-note').textContent;
  $('losses').hidden = keys.length === 0;
  if (keys.length === 0) {
    lossChart.clear();
    state.losses = null;
    return;
  }
  const names = [ALL, ...keys];
  if (lossKey.options.length !== names.length || names.some((n, i) => lossKey.options[i].value !== n)) {
    const chosen = lossKey.value;
    lossKey.replaceChildren(...names.map((n) => new Option(n === ALL ? 'all' : n, n)));
    lossKey.value = names.includes(chosen) ? chosen : ALL;
  }
  state.losses = lossChart.update(losses!, lossKey.value, lossLog.checked);
}

/** Fetches the run's losses; a failure is shown beside the loss chart and leaves the rest of the page alone. */
async function loadLosses(run: number, v: RunVersion): Promise<RunLosses | null> {
  if (!v.losses) return null;
  try {
    const got = await source.losses(run);
    $('loss-note').textContent =
      got.skipped > 0 ? `${got.skipped} line${got.skipped === 1 ? '' : 's'} of metrics.jsonl skipped (${got.firstSkipped})` : '';
    return got;
  } catch (err) {
    $('loss-note').textContent = `losses: ${err instanceof Error ? err.message : String(err)}`;
    return null;
  }
}

/** Brings the page up to `v`: fetches only what changed since the last version shown. */
async function apply(run: number, v: RunVersion, gen: number): Promise<void> {
  if (v.metrics !== shownMetrics) {
    // No summary.json (yet): no chart.
    const metrics = v.metrics === null ? null : await source.metrics(run);
    if (gen !== generation) return;
    $('chart').hidden = metrics === null;
    if (metrics === null) chart.clear();
    state.chart = metrics === null ? null : chart.update(metrics);
    shownMetrics = v.metrics;
    evalCount = metrics?.evals.length ?? 0;
  }
  if ((v.losses ?? null) !== shownLosses) {
    const got = await loadLosses(run, v);
    if (gen !== generation) return;
    losses = got;
    shownLosses = v.losses ?? null;
    drawLosses();
  }
  const next = await Promise.all(
    paneNames(Object.keys(v.episodes)).map(async (name): Promise<Pane> => {
      const shown = panes.find((p) => p.name === name && p.version === v.episodes[name]);
      return shown ?? { name, version: v.episodes[name], view: new EpisodeView(await source.episode(run, name)), t0: simTime };
    }),
  );
  if (gen !== generation) {
    for (const p of next) if (!panes.includes(p)) p.view.dispose();
    return;
  }
  showPanes(next);
  const info = source.runs[run];
  const what = [info.algo, info.env ?? panes[0]?.view.episode.env].filter(Boolean).join(' on ');
  const facts = [
    shownMetrics !== null ? `${evalCount} evaluation${evalCount === 1 ? '' : 's'}` : source.mode === 'server' ? 'no evaluations yet' : '',
    panes.length === 0 ? 'no recorded episodes yet' : '',
    source.mode === 'server' ? (state.live.connected ? 'live' : 'reconnecting…') : '',
  ].filter(Boolean);
  status.textContent = `${info.name}${what ? ` (${what})` : ''}${facts.length > 0 ? `: ${facts.join(', ')}` : ''}`;
  if (state.ready) state.live.updates++;
  state.live.evalCounts.push(evalCount);
  state.live.appliedAt.push(Date.now());
  state.ready = true;
}

/** Applies the newest version only: versions that arrive while one is being applied replace each other. */
function enqueue(run: number, v: RunVersion, gen: number): void {
  pending = v;
  if (applying) return;
  applying = true;
  void (async () => {
    while (pending !== null && gen === generation) {
      const next = pending;
      pending = null;
      try {
        await apply(run, next, gen);
      } catch (err) {
        fail(err);
      }
    }
    applying = false;
    if (pending !== null && gen !== generation) enqueue(state.run, pending, generation);
  })();
}

function showRun(run: number): void {
  stopWatch?.();
  const gen = ++generation;
  pending = null;
  state.run = run;
  state.ready = false;
  state.live = { connected: false, updates: 0, evalCounts: [], appliedAt: [] };
  shownMetrics = undefined;
  shownLosses = undefined;
  losses = null;
  $('loss-note').textContent = '';
  drawLosses();
  chart.clear();
  showPanes([]);
  simTime = 0;
  status.textContent = `${source.runs[run].name}: loading…`;
  stopWatch = source.watch(
    run,
    (v) => enqueue(run, v, gen),
    (connected, error) => {
      if (gen !== generation) return;
      state.live.connected = connected;
      if (error) fail(new Error(error));
    },
  );
}

function listRuns(): void {
  select.replaceChildren(...source.runs.map((r) => new Option(r.name, String(r.id))));
  select.hidden = source.runs.length < 2;
  select.value = String(state.run);
}

/** Static site: the chosen or dropped files of a run folder become a run of their own. */
async function openFiles(files: Awaited<ReturnType<typeof pickedFromInput>>, name: string): Promise<void> {
  if (!(source instanceof StaticSource) || files.length === 0) return;
  const id = await source.addFiles(files, name);
  state.error = null;
  state.run = id;
  listRuns();
  showRun(id);
}

async function start(): Promise<void> {
  source = (await ServerSource.connect(token)) ?? (await StaticSource.load());
  state.mode = source.mode;
  select.onchange = () => showRun(Number(select.value));
  lossKey.onchange = lossLog.onchange = drawLosses;
  const button = $<HTMLButtonElement>('play');
  button.onclick = () => {
    playing = !playing;
    button.textContent = playing ? 'pause' : 'play';
  };
  if (source instanceof StaticSource) {
    $('files-ui').hidden = false;
    for (const id of ['files', 'folder']) {
      const input = $<HTMLInputElement>(id);
      input.onchange = () => void openFiles(pickedFromInput(input), input.files?.[0]?.webkitRelativePath.split('/')[0] || 'chosen files').catch(fail);
    }
    document.body.ondragover = (e) => e.preventDefault();
    document.body.ondrop = (e) => {
      e.preventDefault();
      if (e.dataTransfer) void pickedFromDrop(e.dataTransfer).then(({ files, name }) => openFiles(files, name).catch(fail), fail);
    };
  }
  requestAnimationFrame(draw);
  if (source.runs.length === 0) {
    status.textContent =
      source.mode === 'static' ? 'no bundled demo: open a run folder, or its summary.json, metrics.jsonl and episodes/*.safetensors' : 'no runs';
    state.ready = true;
    return;
  }
  listRuns();
  showRun(0);
}

function fail(err: unknown): void {
  state.error = err instanceof Error ? err.message : String(err);
  status.textContent = `error: ${state.error}`;
}

start().catch(fail);
