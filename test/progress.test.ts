import { describe, expect, it } from 'vitest';
import { formatCount, formatDuration, formatRate, formatValue } from '../src/run/format.ts';
import { ProgressBar } from '../src/run/progress.ts';

class FakeStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function setup(tty: boolean, extra: { total?: number; columns?: number } = {}) {
  const clock = { t: 0 };
  const stream = new FakeStream(tty, extra.columns);
  const bar = new ProgressBar({
    total: extra.total ?? 1000,
    stream,
    label: 'train',
    now: () => clock.t,
    rateHalfLifeMs: 1000,
  });
  return { clock, stream, bar };
}

describe('format helpers', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(45.4)).toBe('45s');
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3720)).toBe('1h02m');
    expect(formatDuration(2 * 86400 + 3 * 3600 + 59)).toBe('2d03h');
    expect(formatDuration(NaN)).toBe('--');
    expect(formatDuration(Infinity)).toBe('--');
    expect(formatDuration(-1)).toBe('--');
  });

  it('formats counts and rates', () => {
    expect(formatCount(950)).toBe('950');
    expect(formatCount(1234)).toBe('1.2k');
    expect(formatCount(12345)).toBe('12.3k');
    expect(formatCount(123456)).toBe('123k');
    expect(formatCount(999_960)).toBe('1.0M');
    expect(formatCount(1_500_000)).toBe('1.5M');
    expect(formatCount(-2500)).toBe('-2.5k');
    expect(formatRate(1234)).toBe('1.2k/s');
    expect(formatRate(850.4)).toBe('850/s');
    expect(formatRate(12.54)).toBe('12.5/s');
    expect(formatRate(0.5)).toBe('0.50/s');
    expect(formatRate(NaN)).toBe('--/s');
  });

  it('formats field values', () => {
    expect(formatValue(3241.77)).toBe('3242');
    expect(formatValue(0.0123456)).toBe('0.01235');
    expect(formatValue(42)).toBe('42');
    expect(formatValue(1e-5)).toBe('1.00e-5');
    expect(formatValue(NaN)).toBe('nan');
    expect(formatValue(-Infinity)).toBe('-inf');
    expect(formatValue('ok')).toBe('ok');
  });
});

describe('ProgressBar', () => {
  it('renders done/total, percent, rate, ETA and fields', () => {
    const { clock, bar } = setup(true);
    clock.t = 1000;
    bar.update(250, { 'eval/return': 3241.77 });
    expect(bar.rate).toBe(250);
    expect(bar.render()).toBe('train [#####...............] 250/1.0k  25% 250/s ETA 3s | eval/return=3242');
  });

  it('redraws in place on a terminal, at most every 100 ms', () => {
    const { clock, stream, bar } = setup(true);
    for (let i = 1; i <= 100; i++) {
      clock.t = i * 10; // 100 updates over one second
      bar.update(i * 10);
    }
    expect(stream.chunks.length).toBeGreaterThanOrEqual(9);
    expect(stream.chunks.length).toBeLessThanOrEqual(11);
    for (const chunk of stream.chunks) {
      expect(chunk.startsWith('\r')).toBe(true);
      expect(chunk.endsWith('\x1b[K')).toBe(true);
      expect(chunk).not.toContain('\n');
    }
    bar.finish();
    expect(stream.chunks.at(-1)).toMatch(/^\rtrain \[#{20}\] 1.0k\/1.0k 100% 1.0k\/s ETA 0s \| took 1s\x1b\[K\n$/);
    bar.update(5); // ignored after finish
    expect(stream.chunks.at(-1)).toMatch(/took 1s/);
  });

  it('prints plain lines every N seconds when not on a terminal', () => {
    const { clock, stream, bar } = setup(false, { total: 10_000 });
    for (let i = 1; i <= 300; i++) {
      clock.t = i * 100; // 30 s of updates
      bar.tick(10);
    }
    bar.finish({ 'eval/return': 12 });
    const lines = stream.text.split('\n');
    expect(lines.at(-1)).toBe('');
    lines.pop();
    // At 0.1 s (first update), 10.1 s, 20.1 s, then the final line.
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line).not.toMatch(/[\r\x1b]/);
    expect(lines[1]).toMatch(/^train \[#+\.+\] 1.0k\/10.0k {2}10% 100\/s ETA 1m30s$/);
    expect(lines[3]).toMatch(/3.0k\/10.0k .* \| eval\/return=12 \| took 30s$/);
  });

  it('a resumed run counts only the steps it takes itself in its rate and ETA', () => {
    const clock = { t: 0 };
    const bar = new ProgressBar({ total: 1000, initial: 600, stream: new FakeStream(false), now: () => clock.t });
    expect(bar.render()).toBe('[############........] 600/1.0k  60% --/s ETA --');
    clock.t = 2000;
    bar.update(700);
    expect(bar.rate).toBe(50);
    expect(bar.render()).toBe('[##############......] 700/1.0k  70% 50.0/s ETA 6s');
  });

  it('smooths the rate and follows a change of speed', () => {
    const { clock, bar } = setup(false, { total: 1e6 });
    let done = 0;
    for (let i = 1; i <= 100; i++) {
      clock.t = i * 100;
      done += 100; // 1000 steps/s
      bar.update(done);
    }
    expect(bar.rate).toBeCloseTo(1000, 6);
    clock.t += 100;
    done += 1000; // one burst at 10k/s barely moves it
    bar.update(done);
    expect(bar.rate).toBeGreaterThan(1000);
    expect(bar.rate).toBeLessThan(2000);
    for (let i = 0; i < 100; i++) {
      clock.t += 100;
      done += 10; // 100 steps/s for 10 half-lives
      bar.update(done);
    }
    // What is left of the old speed after 10 half-lives: about 900 / 2^10.
    expect(bar.rate).toBeGreaterThan(100);
    expect(bar.rate).toBeLessThan(102);
  });

  it('keeps log lines intact and redraws the bar below them', () => {
    const { clock, stream, bar } = setup(true);
    clock.t = 100;
    bar.update(10);
    stream.chunks = [];
    bar.log('eval at 10: return 5');
    expect(stream.chunks[0]).toBe('\r\x1b[Keval at 10: return 5\n');
    expect(stream.chunks[1]).toMatch(/^\rtrain /);
  });

  it('cuts lines to the terminal width', () => {
    const { clock, stream, bar } = setup(true, { columns: 40 });
    clock.t = 100;
    bar.update(10, { 'a/very/long/field/name': 1, another: 2 });
    expect(stream.chunks[0]).toBe(`\r${bar.render().slice(0, 39)}\x1b[K`);
  });

  it('works without a known total', () => {
    const { clock, bar } = setup(false, { total: 0 });
    clock.t = 2000;
    bar.update(500);
    expect(bar.render()).toBe('train 500 250/s');
  });
});
