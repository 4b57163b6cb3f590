/**
 * Node transport for remote envs (docs/remote-env.md): opens the WebSocket with `ws` and installs the
 * registry's maker for `ws://` / `wss://` env ids, so `makeChunkedVectorEnv('ws://127.0.0.1:8770', n,
 * chunk)` (hence `dsrl steer --env ws://...` and `dsrl eval --env ws://...`) connects to a robot side.
 * Importing this module is what installs it; the env core stays browser-safe.
 *
 * The token (`DSRL_ENV_TOKEN`, or `token` in the options) goes out as `Authorization: Bearer`; dsrl
 * refuses to connect to a non-loopback host without one.
 */
import { WebSocket } from 'ws';
import { setUrlEnvMaker } from '../envs/registry.ts';
import type { EnvLink, LinkOpener } from '../envs/remote/link.ts';
import type { RemoteEnvOptions } from '../envs/remote/remote-env.ts';
import { RemoteVectorEnv } from '../envs/remote/remote-vector-env.ts';
import { isLoopback } from './ws-limits.ts';

/** Largest message dsrl accepts from a robot side (an observation and an info object). */
const MAX_PAYLOAD = 16 << 20;

export const openWsLink: LinkOpener = (url, token) =>
  new Promise<EnvLink>((resolve, reject) => {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (!isLoopback(host) && !token) {
      reject(new Error(`${url}: refusing to connect to a non-loopback robot side without a token (set DSRL_ENV_TOKEN)`));
      return;
    }
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, maxPayload: MAX_PAYLOAD, handshakeTimeout: 10_000 });
    // ws can emit the hello in the same tick as 'open', before dial (link.ts) installs its handler: hold
    // messages (and a close) until a handler is set.
    const early: string[] = [];
    let onMessage: ((text: string) => void) | null = null;
    let closedWith: string | null = null;
    let onClose: ((reason: string) => void) | null = null;
    const link: EnvLink = {
      send: (text) => {
        if (ws.readyState !== WebSocket.OPEN) throw new Error('socket not open');
        ws.send(text);
      },
      get onMessage() {
        return (text: string) => (onMessage ? onMessage(text) : early.push(text));
      },
      set onMessage(fn: (text: string) => void) {
        onMessage = fn;
        while (early.length > 0 && onMessage === fn) fn(early.shift()!);
      },
      get onClose() {
        return (reason: string) => (onClose ? onClose(reason) : (closedWith = reason));
      },
      set onClose(fn: (reason: string) => void) {
        onClose = fn;
        if (closedWith !== null) fn(closedWith);
      },
      close: () => ws.terminate(),
    };
    let opened = false;
    ws.on('open', () => {
      opened = true;
      resolve(link);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) link.onMessage('{"type": "binary message (protocol v1 is JSON text)"}');
      else link.onMessage(data.toString());
    });
    ws.on('error', (err) => {
      if (!opened) reject(err);
    });
    ws.on('close', (code, reason) => {
      if (!opened) reject(new Error(`closed during the handshake (${code})`));
      else link.onClose(`${code}${reason.length ? ` ${reason.toString()}` : ''}`);
    });
  });

/** The options a `ws://` env id gets from the environment (DSRL_ENV_TOKEN, DSRL_ENV_WATCHDOG_MS, DSRL_ENV_MAX_DELTA). */
export function remoteEnvOptionsFromEnvironment(chunk: number): RemoteEnvOptions {
  const num = (name: string): number | undefined => {
    const v = process.env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got '${v}'`);
    return n;
  };
  const maxDelta = num('DSRL_ENV_MAX_DELTA');
  return {
    open: openWsLink,
    chunk,
    token: process.env.DSRL_ENV_TOKEN || undefined,
    watchdogMs: num('DSRL_ENV_WATCHDOG_MS'),
    safety: maxDelta ? { maxDelta } : undefined,
  };
}

setUrlEnvMaker((url, n, chunk) => RemoteVectorEnv.connect(url, n, remoteEnvOptionsFromEnvironment(chunk)));
