/**
 * The view stream's worker thread (started by startViewStreamThread, view-stream.ts): serves the stream with its
 * own event loop, so a training loop that never yields cannot starve it. Messages from the parent: follow (the
 * run folder), flush (check the folder and let clients catch up, then answer 'flushed').
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serveRunStream, type ViewStreamOptions } from './view-stream.ts';

const port = parentPort!;
try {
  const server = await serveRunStream({ ...(workerData as ViewStreamOptions), log: (line) => port.postMessage({ type: 'log', line }) });
  port.on('message', (m: { type: string; dir?: string; timeoutMs?: number }) => {
    if (m.type === 'follow') server.follow(m.dir!);
    else if (m.type === 'flush') void server.flush(m.timeoutMs ?? 1000).then(() => port.postMessage({ type: 'flushed', stats: server.stats() }));
  });
  port.postMessage({ type: 'ready', url: server.url, port: server.port });
} catch (err) {
  port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}
