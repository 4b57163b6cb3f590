/**
 * What `dsrl steer --operator` starts (docs/operator.md): the operator state machine, its web page and,
 * on a terminal, its keys; and the wrapping of the run's envs so that both the training and the
 * evaluation env go through the operator (OperatorVectorEnv), each with one sub-env (one robot). Also the
 * harness hooks: `gate` (before each gradient update: lets the page's and the terminal's messages in,
 * then holds while paused or e-stopped) and `metrics` (the intervention rate). Node only.
 */
import { Operator } from '../envs/operator/operator.ts';
import { OperatorVectorEnv, type OperatorRobot } from '../envs/operator/operator-env.ts';
import { RemoteVectorEnv } from '../envs/remote/remote-vector-env.ts';
import type { VectorEnv } from '../envs/vector.ts';
import { startOperatorServer, type OperatorServer } from './operator-server.ts';
import { startOperatorTerminal, type OperatorTerminal, type OperatorTerminalOptions } from './operator-terminal.ts';

export interface OperatorSessionOptions {
  host?: string;
  /** Page port (0: any free port). */
  port?: number;
  /** Default DSRL_OPERATOR_TOKEN; required when host is not loopback. */
  token?: string;
  /** The policy's chunk length. */
  chunk: number;
  /** Whether the agent learns from the executed real actions (DSRL-NA): taken-over chunks are stored, else discarded. */
  storesRealActions: boolean;
  /** Whether the first env made is the training env (else the run only evaluates). */
  firstIsTraining: boolean;
  /** Keys from a terminal: default process.stdin when it is one; null: none. */
  terminal?: OperatorTerminalOptions | null;
  /** Where the start line goes (default stderr). */
  log?: (line: string) => void;
}

export interface OperatorSession {
  readonly operator: Operator;
  readonly server: OperatorServer;
  /** Wraps an env maker: the first env made is the training env (when firstIsTraining), the next the evaluation env; both get one sub-env. */
  maker(make: (n: number, chunk: number) => Promise<VectorEnv>): (n: number, chunk: number) => Promise<VectorEnv>;
  gate(): Promise<void>;
  metrics(): Record<string, number>;
  close(): Promise<void>;
}

/** The halt and episode end of a remote env's connections; none for other envs. */
function robotOf(env: VectorEnv): OperatorRobot | undefined {
  if (!(env instanceof RemoteVectorEnv)) return undefined;
  return {
    stop: (reason) => env.envs.forEach((e) => e.sendStop(reason)),
    endEpisode: (reason) => env.envs.forEach((e) => e.endEpisode(reason)),
  };
}

export async function startOperatorSession(options: OperatorSessionOptions): Promise<OperatorSession> {
  const operator = new Operator();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = await startOperatorServer({
    operator,
    host: options.host,
    port: options.port,
    token: options.token ?? (process.env.DSRL_OPERATOR_TOKEN || undefined),
    log,
  });
  const terminalOptions = options.terminal === undefined ? (process.stdin.isTTY ? {} : null) : options.terminal;
  const terminal: OperatorTerminal | null = terminalOptions ? startOperatorTerminal(operator, terminalOptions) : null;
  log(
    `operator page: ${server.url}${terminal ? '  keys here:' : '  (no terminal keys: stdin is not a terminal)  keys on the page:'} ` +
      'r = scene reset done, s = success, f = failure, p = pause / resume, space or e = emergency stop; on the page, hold Shift (or a gamepad LB) to take over',
  );
  let made = 0;
  let closed = false;
  let trainEnv: OperatorVectorEnv | null = null;
  const session: OperatorSession = {
    operator,
    server,
    maker: (make) => async (_n, chunk) => {
      const training = made++ === 0 && options.firstIsTraining;
      let inner: VectorEnv;
      try {
        inner = await make(1, chunk);
      } catch (err) {
        await session.close();
        throw err;
      }
      const env = new OperatorVectorEnv(inner, {
        operator,
        owner: training ? 'train' : 'eval',
        training,
        chunk: options.chunk,
        storesRealActions: options.storesRealActions,
        robot: robotOf(inner),
      });
      if (training) trainEnv = env;
      return env;
    },
    async gate() {
      // Between updates, let the page's and the terminal's messages in (an e-stop among them).
      await new Promise<void>((resolve) => setImmediate(resolve));
      await operator.trainingClear();
    },
    metrics: () => trainEnv?.metrics() ?? {},
    async close() {
      if (closed) return;
      closed = true;
      terminal?.close();
      await server.close();
    },
  };
  return session;
}
