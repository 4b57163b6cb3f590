/**
 * Where the page's runs come from. `ServerSource`: `dsrl view`'s /api, followed live through its event
 * stream (src/web/run-watch.ts). `StaticSource`: no server behind the page (a static site, `npm run
 * build:web`): the demo episodes bundled at build time (demo/index.json, scripts/build-web.ts) and files
 * the user picks or drops: a run folder's summary.json, metrics.jsonl and episodes/*.safetensors.
 */
import { decodeEpisode, type RecordedEpisode } from '../../src/run/episode-format.ts';
import { lossesOf, type RunLosses } from '../../src/web/run-losses.ts';
import { metricsOf, type RunMetrics } from '../../src/web/run-metrics.ts';

export interface RunInfo {
  id: number;
  name: string;
  env: string | null;
  algo: string | null;
}

/** Opaque versions of a run's metrics and episodes (src/web/run-watch.ts): a change means "fetch again". */
export interface RunVersion {
  metrics: string | null;
  /** metrics.jsonl's (the loss series); absent where the source has none to give. */
  losses?: string | null;
  episodes: Record<string, string>;
}

export interface RunSource {
  readonly mode: 'server' | 'static';
  readonly runs: RunInfo[];
  metrics(run: number): Promise<RunMetrics>;
  losses(run: number): Promise<RunLosses>;
  episode(run: number, name: string): Promise<RecordedEpisode>;
  /** Calls `onVersion` with the run's version now and, for a live source, at every change; returns a function that stops. */
  watch(run: number, onVersion: (v: RunVersion) => void, onLink: (connected: boolean, error?: string) => void): () => void;
}

/** The largest episode file the page reads (the server's default per-file bound). */
const MAX_EPISODE_BYTES = 64 * 1024 * 1024;

export class ServerSource implements RunSource {
  readonly mode = 'server';

  constructor(
    readonly runs: RunInfo[],
    private readonly token: string | null,
  ) {}

  /** The server's run list, or null when no `dsrl view` server answers (a static file server, or none). */
  static async connect(token: string | null): Promise<ServerSource | null> {
    let res: Response;
    try {
      res = await fetch('/api/runs', { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    } catch {
      return null; // no server at all (e.g. a page opened from disk)
    }
    const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
    // A static server answers 404, or its index page for every path.
    if (res.status === 404 || (res.ok && !json)) return null;
    if (!res.ok) throw new Error(`/api/runs: ${res.status} ${(await res.text()).trim()}`);
    return new ServerSource((await res.json()) as RunInfo[], token);
  }

  private async get(path: string): Promise<Response> {
    const res = await fetch(path, { headers: this.token ? { Authorization: `Bearer ${this.token}` } : {} });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.text()).trim()}`);
    return res;
  }

  async metrics(run: number): Promise<RunMetrics> {
    return (await (await this.get(`/api/runs/${run}/metrics`)).json()) as RunMetrics;
  }

  async losses(run: number): Promise<RunLosses> {
    return (await (await this.get(`/api/runs/${run}/losses`)).json()) as RunLosses;
  }

  async episode(run: number, name: string): Promise<RecordedEpisode> {
    return decodeEpisode(new Uint8Array(await (await this.get(`/api/runs/${run}/episodes/${name}`)).arrayBuffer()), name);
  }

  watch(run: number, onVersion: (v: RunVersion) => void, onLink: (connected: boolean, error?: string) => void): () => void {
    // EventSource cannot send headers: the token rides in the URL, as the server allows for every /api path.
    const events = new EventSource(`/api/runs/${run}/events${this.token ? `?token=${encodeURIComponent(this.token)}` : ''}`);
    events.addEventListener('version', (e) => onVersion(JSON.parse((e as MessageEvent<string>).data) as RunVersion));
    events.onopen = () => onLink(true);
    // The browser reconnects by itself after a drop; CLOSED means it gave up (the server refused the stream).
    events.onerror = () => onLink(false, events.readyState === EventSource.CLOSED ? `/api/runs/${run}/events: refused` : undefined);
    return () => events.close();
  }
}

interface StaticRun {
  info: RunInfo;
  metrics: RunMetrics | null;
  losses: RunLosses | null;
  episodes: Map<string, () => Promise<Uint8Array>>;
}

/** A chosen file and its path inside the chosen run folder (its bare name when files were chosen one by one). */
export interface PickedFile {
  file: File;
  path: string;
}

/** The bundled demos' list, written by scripts/build-web.ts. */
export interface DemoIndex {
  demos: { name: string; env: string; algo: string | null; episodes: Record<string, string> }[];
}

export class StaticSource implements RunSource {
  readonly mode = 'static';
  private readonly entries: StaticRun[] = [];

  get runs(): RunInfo[] {
    return this.entries.map((e) => e.info);
  }

  /** With the demos bundled next to the page (none when the build has no demo/index.json). */
  static async load(): Promise<StaticSource> {
    const source = new StaticSource();
    let index: DemoIndex | null = null;
    try {
      const res = await fetch('demo/index.json');
      if (res.ok) index = (await res.json()) as DemoIndex;
    } catch {
      // no demos next to the page
    }
    for (const demo of index?.demos ?? []) {
      const episodes = new Map<string, () => Promise<Uint8Array>>();
      for (const [name, file] of Object.entries(demo.episodes)) {
        episodes.set(name, async () => {
          const res = await fetch(`demo/${encodeURIComponent(file)}`);
          if (!res.ok) throw new Error(`demo/${file}: ${res.status}`);
          return new Uint8Array(await res.arrayBuffer());
        });
      }
      source.entries.push({
        info: { id: source.entries.length, name: demo.name, env: demo.env, algo: demo.algo },
        metrics: null,
        losses: null,
        episodes,
      });
    }
    return source;
  }

  /**
   * Adds the files of one run as a new entry: its summary.json (the curve), metrics.jsonl (the losses) and episode files (`<name>.safetensors`,
   * in episodes/ when a whole folder was chosen). Returns its id; throws naming what is missing.
   */
  async addFiles(files: PickedFile[], name: string): Promise<number> {
    let metrics: RunMetrics | null = null;
    let losses: RunLosses | null = null;
    let env: string | null = null;
    let algo: string | null = null;
    const episodes = new Map<string, () => Promise<Uint8Array>>();
    for (const { file: f, path } of files) {
      if (path === 'summary.json') {
        if (f.size > 16 * 1024 * 1024) throw new Error(`${f.name}: over 16 MB; is this a run's summary.json?`);
        const summary = JSON.parse(await f.text()) as Record<string, unknown>;
        metrics = metricsOf(summary);
        env = typeof summary.env === 'string' ? summary.env : null;
        algo = typeof summary.algo === 'string' ? summary.algo : null;
        continue;
      }
      if (path === 'metrics.jsonl') {
        if (f.size > MAX_EPISODE_BYTES) throw new Error(`${f.name}: over ${MAX_EPISODE_BYTES} bytes, more than the viewer reads of a metrics.jsonl`);
        losses = lossesOf(await f.text());
        continue;
      }
      const m = /^([A-Za-z0-9_-]{1,64})\.safetensors$/.exec(f.name);
      // Loose files are taken as they come; in a folder, only episodes/ holds recordings (best/ and last/ hold agents).
      if (!m || (path !== f.name && path !== `episodes/${f.name}`)) continue;
      if (f.size > MAX_EPISODE_BYTES) throw new Error(`${f.name}: over ${MAX_EPISODE_BYTES} bytes; is this an episode recording?`);
      episodes.set(m[1], async () => new Uint8Array(await f.arrayBuffer()));
    }
    if (metrics === null && losses === null && episodes.size === 0)
      throw new Error("none of the chosen files is a run's summary.json, metrics.jsonl or an episode recording (<run>/episodes/*.safetensors)");
    const id = this.entries.length;
    this.entries.push({ info: { id, name, env, algo }, metrics, losses, episodes });
    return id;
  }

  private entry(run: number): StaticRun {
    const e = this.entries[run];
    if (!e) throw new Error(`no run ${run}`);
    return e;
  }

  async metrics(run: number): Promise<RunMetrics> {
    return this.entry(run).metrics ?? metricsOf(null);
  }

  async losses(run: number): Promise<RunLosses> {
    return this.entry(run).losses ?? lossesOf('');
  }

  async episode(run: number, name: string): Promise<RecordedEpisode> {
    const read = this.entry(run).episodes.get(name);
    if (!read) throw new Error(`no episode ${name}`);
    return decodeEpisode(await read(), name);
  }

  watch(run: number, onVersion: (v: RunVersion) => void): () => void {
    const e = this.entry(run);
    let live = true;
    // Files do not change once picked: one version, given after the caller has returned.
    queueMicrotask(() => {
      if (live)
        onVersion({
          metrics: e.metrics ? 'static' : null,
          losses: e.losses ? 'static' : null,
          episodes: Object.fromEntries([...e.episodes.keys()].map((k) => [k, 'static'])),
        });
    });
    return () => {
      live = false;
    };
  }
}
