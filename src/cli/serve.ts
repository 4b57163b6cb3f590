/**
 * `dsrl serve`: put any base policy (ONNX file, diffusion checkpoint folder, even another server) behind
 * the remote-policy protocol (docs/remote-protocol.md), so `dsrl steer --policy ws://...` can use it.
 */
import type { Command } from 'commander';
import type { NoisePolicy } from '../policies/policy.ts';
import type { PolicyServer } from '../policies/remote-server.ts';
import { isLoopback } from '../node/ws-limits.ts';
import { intArg } from './args.ts';

export interface ServeOptions {
  /** A .onnx file, a checkpoint folder, or a ws:// URL. */
  policy: string;
  host: string;
  port: number;
  /** Env whose dims (and bounds, for an ONNX file without a manifest) the policy must match. */
  env?: string;
  chunk?: number;
  maxBatch: number;
  /** Required of clients; required to bind a non-loopback address (default: DSRL_TOKEN). */
  token?: string;
  maxConnections?: number;
  /** Requests one connection may have waiting or running. */
  maxQueued?: number;
}

export const SERVE_DEFAULTS = { host: '127.0.0.1', port: 8765, maxBatch: 4096 } as const satisfies Partial<ServeOptions>;

export function registerServe(program: Command): void {
  const d = SERVE_DEFAULTS;
  program
    .command('serve')
    .description('serve a base policy over WebSocket (obs, noise -> action chunk; docs/remote-protocol.md)')
    .requiredOption('--policy <spec>', 'a .onnx file, a diffusion checkpoint folder, or a ws:// URL')
    .option('--host <addr>', 'interface to bind (loopback by default: the protocol has no authentication)', d.host)
    .option('--port <n>', 'port (0: any free port)', intArg('--port'), d.port)
    .option('--env <id>', 'check the policy against this env (dims; bounds for an ONNX file without a manifest)')
    .option('--chunk <n>', 'expected chunk length Ta', intArg('--chunk'))
    .option('--max-batch <n>', 'largest batch accepted per request', intArg('--max-batch'), d.maxBatch)
    .option('--token <secret>', 'token clients must send (default: $DSRL_TOKEN); needed to bind a non-loopback address')
    .option('--max-connections <n>', 'connections at once (default 64)', intArg('--max-connections'))
    .option('--max-queued <n>', 'requests one connection may have waiting (default 8)', intArg('--max-queued'))
    .option('--quiet', 'do not log connections and refused requests')
    .action(async (o) => {
      const log = o.quiet ? () => {} : (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);
      const { server, policy } = await runServe(o, { log });
      console.log(`serving ${o.policy} (obs ${policy.obsDim}, act ${policy.actDim}, chunk ${policy.chunk}) on ${server.url}; Ctrl-C to stop`);
      if (!isLoopback(server.host))
        console.log(`note: ${server.host} is not a loopback address: clients need the token, and the traffic is not encrypted (put it behind TLS)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      await policy.close?.();
      console.log(`stopped after ${server.answered} answered and ${server.refused} refused requests`);
    });
}

/** Load the policy and start the server; the caller closes both. */
export async function runServe(
  options: Partial<ServeOptions> & Pick<ServeOptions, 'policy'>,
  hooks: { log?: (line: string) => void } = {},
): Promise<{ server: PolicyServer; policy: NoisePolicy }> {
  const o = { ...SERVE_DEFAULTS, ...options };
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`--port must be an integer in [0, 65535], got ${o.port}`);
  if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1) throw new Error(`--max-batch must be a positive integer, got ${o.maxBatch}`);
  for (const [flag, v] of [
    ['--max-connections', o.maxConnections],
    ['--max-queued', o.maxQueued],
  ] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new Error(`${flag} must be a positive integer, got ${v}`);
  }
  const token = o.token ?? (process.env.DSRL_TOKEN || undefined);
  if (token !== undefined && token.length < 8) throw new Error('--token must be at least 8 characters');
  // Checked before loading anything: binding the network without a token is refused anyway.
  if (!isLoopback(o.host) && !token) {
    throw new Error(`--host ${o.host}: not a loopback address, so clients must authenticate: pass --token <secret> (or set DSRL_TOKEN)`);
  }
  const { loadPolicy } = await import('../policies/load.ts');
  const { expectationFromEnv } = await import('../policies/expect.ts');
  let expect;
  if (o.env) {
    const { makeEnv } = await import('../envs/registry.ts');
    const env = await makeEnv(o.env);
    expect = expectationFromEnv(env, o.chunk);
    env.close();
  } else if (o.chunk !== undefined) {
    expect = { chunk: o.chunk };
  }
  const policy = await loadPolicy(o.policy, { expect });
  const { servePolicy } = await import('../policies/remote-server.ts');
  try {
    const server = await servePolicy(policy, {
      host: o.host,
      port: o.port,
      maxBatch: o.maxBatch,
      log: hooks.log,
      token,
      ...(o.maxQueued !== undefined ? { maxQueuedPerConnection: o.maxQueued } : {}),
      ...(o.maxConnections !== undefined ? { limits: { maxConnections: o.maxConnections } } : {}),
      info: { policy: o.policy, ...(o.env ? { envId: o.env } : {}), producer: 'dsrl serve' },
    });
    return { server, policy };
  } catch (err) {
    await policy.close?.();
    throw err;
  }
}
