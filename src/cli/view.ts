/**
 * `dsrl view <run folder | ws://host:port>...`: replays the runs' recorded evaluation episodes (base policy and
 * steered agent side by side) and draws their evaluation curves in a browser page served by src/web/server.ts,
 * following runs that are still training: run folders by watching them (src/web/run-watch.ts), a `dsrl steer
 * --view-port` process on this or another machine through its view stream (src/web/remote-run.ts).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isLoopback } from '../node/ws-limits.ts';
import type { ViewerServer } from '../web/server.ts';
import { intArg } from './args.ts';

/** web/ of this package: the page's sources and, once built, web/dist. */
const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
export const WEB_DIST = `${WEB_ROOT}dist`;

export interface ViewOptions {
  host: string;
  port: number;
  token?: string;
  maxConnections?: number;
}

/** Builds web/dist with Vite when it is missing (a source checkout has Vite as a dev dependency). */
export async function ensureBuiltPage(log: (line: string) => void = console.log): Promise<string> {
  if (existsSync(`${WEB_DIST}/index.html`)) return WEB_DIST;
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error(`the viewer page is not built (${WEB_DIST}) and Vite is not installed to build it: run npm ci && npm run build:web`);
  }
  log('dsrl view: building the page (npm run build:web) once…');
  await vite.build({ configFile: `${WEB_ROOT}vite.config.ts`, logLevel: 'warn' });
  if (!existsSync(`${WEB_DIST}/index.html`)) throw new Error(`building the viewer page left no ${WEB_DIST}/index.html; run npm run build:web`);
  return WEB_DIST;
}

export async function runView(args: string[], o: ViewOptions, log: (line: string) => void = console.log): Promise<ViewerServer> {
  const token = o.token ?? (process.env.DSRL_TOKEN || undefined);
  const { checkRunFolder, startViewer } = await import('../web/server.ts');
  const [{ RemoteRun }, { isWebSocketUrl }] = await Promise.all([import('../web/remote-run.ts'), import('../core/url.ts')]);
  // Bad folders and flags fail before anything is built or bound.
  if (args.length === 0) throw new Error('give at least one run folder or ws:// stream');
  const runs = args.filter((a) => !isWebSocketUrl(a));
  const urls = args.filter(isWebSocketUrl);
  runs.forEach(checkRunFolder);
  for (const url of urls) if (!URL.canParse(url)) throw new Error(`${url}: not a valid address (expected ws://host:port)`);
  if (!isLoopback(o.host) && !token)
    throw new Error(`--host ${o.host}: not a loopback address, so the viewer needs --token <secret> (or DSRL_TOKEN)`);
  const distDir = await ensureBuiltPage(log);
  // A stream's token: --token, else DSRL_VIEW_TOKEN (what dsrl steer --view-port reads).
  const streamToken = o.token ?? (process.env.DSRL_VIEW_TOKEN || undefined);
  const remotes = urls.map((url) => new RemoteRun(url, { token: streamToken, log }));
  try {
    return await startViewer({
      runs,
      remotes,
      distDir,
      host: o.host,
      port: o.port,
      token,
      log,
      ...(o.maxConnections !== undefined ? { limits: { maxConnections: o.maxConnections } } : {}),
    });
  } catch (err) {
    for (const r of remotes) r.close();
    throw err;
  }
}

export function registerView(program: Command): void {
  program
    .command('view')
    .description(
      'watch run folders in the browser: recorded evaluation episodes (base policy and steered agent side by side) and curves, live while a run trains',
    )
    .argument('<runs...>', 'run folders (what dsrl steer or dsrl sac made), or ws://host:port of a dsrl steer --view-port stream')
    .option('--host <addr>', 'interface to bind (loopback by default)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', intArg('--port'), 8766)
    .option(
      '--token <secret>',
      'token the page must send (default: $DSRL_TOKEN; needed to bind a non-loopback address), also sent to ws:// streams (default there: $DSRL_VIEW_TOKEN)',
    )
    .option('--max-connections <n>', 'connections at once (default 64)', intArg('--max-connections'))
    .action(async (runs: string[], o: ViewOptions) => {
      const server = await runView(runs, o);
      console.log(`dsrl view: ${runs.length} run${runs.length === 1 ? '' : 's'} at ${server.url} ; Ctrl-C to stop`);
      if (!isLoopback(server.host)) console.log(`note: ${server.host} is not a loopback address: the traffic is not encrypted`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });
}
