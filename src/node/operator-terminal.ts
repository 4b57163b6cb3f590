/**
 * The operator's keys in the terminal (docs/operator.md): s = success, f = failure, r = scene reset
 * done, p = pause / resume, space or e = emergency stop, each applied as it is typed (raw mode on a
 * terminal, so no Enter). Ctrl-C stops the robot first, then interrupts the process as usual. Lines
 * saying what changed go to `output` (stderr by default), clearing the progress bar's line first.
 * Node only.
 */
import { actionOfKey, type Operator } from '../envs/operator/operator.ts';

export interface OperatorTerminalOptions {
  input?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output?: { write(chunk: string): unknown; isTTY?: boolean };
}

export interface OperatorTerminal {
  close(): void;
}

export function startOperatorTerminal(operator: Operator, options: OperatorTerminalOptions = {}): OperatorTerminal {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stderr;
  const say = (line: string) => output.write(output.isTTY ? `\r\x1b[K[operator] ${line}\n` : `[operator] ${line}\n`);
  const raw = input.isTTY === true && typeof input.setRawMode === 'function';
  if (raw) input.setRawMode!(true);
  const onData = (data: Buffer | string) => {
    for (const ch of typeof data === 'string' ? data : data.toString('utf8')) {
      if (ch === '\x03') {
        operator.command('estop', 'Ctrl-C');
        close();
        process.kill(process.pid, 'SIGINT');
        return;
      }
      const action = actionOfKey(ch);
      if (!action) continue;
      const res = operator.command(action, 'terminal');
      if (!res.accepted) say(res.line);
    }
  };
  const removeListener = operator.onChange((_status, line) => say(line));
  input.on('data', onData);
  input.resume();
  let closed = false;
  function close(): void {
    if (closed) return;
    closed = true;
    removeListener();
    input.off('data', onData);
    if (raw) input.setRawMode!(false);
    input.pause();
  }
  return { close };
}
