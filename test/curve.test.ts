import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { curveSvg, formatTick, meanStdAcrossSeeds, niceTicks } from '../src/run/curve.ts';

/** Minimal XML well-formedness check: balanced tags, quoted attributes, escaped text. Returns element names. */
function checkXml(xml: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y;
  let pos = 0;
  let sawRoot = false;
  while (pos < xml.length) {
    const lt = xml.indexOf('<', pos);
    const text = xml.slice(pos, lt === -1 ? xml.length : lt);
    if (/&(?!(lt|gt|amp|quot|apos);)/.test(text)) throw new Error(`unescaped & in text: ${text}`);
    if (text.includes('>')) throw new Error(`stray > in text: ${text}`);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside root: ${text}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
    const [, closing, name, attrs, selfClosing] = m;
    if (/&(?!(lt|gt|amp|quot|apos);)/.test(attrs)) throw new Error(`unescaped & in attributes of <${name}>`);
    if (closing) {
      if (stack.pop() !== name) throw new Error(`</${name}> does not close the open element`);
    } else {
      if (stack.length === 0 && sawRoot) throw new Error('second root element');
      sawRoot = true;
      names.push(name);
      if (!selfClosing) stack.push(name);
    }
    pos = tag.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
  if (!sawRoot) throw new Error('no root element');
  return names;
}

const count = (names: string[], name: string) => names.filter((n) => n === name).length;

describe('checkXml (the test helper itself)', () => {
  it('rejects broken documents', () => {
    expect(() => checkXml('<svg><g></svg>')).toThrow();
    expect(() => checkXml('<svg>a & b</svg>')).toThrow();
    expect(() => checkXml('<svg x=1></svg>')).toThrow();
    expect(() => checkXml('<svg></svg><svg></svg>')).toThrow();
    expect(checkXml('<svg><g a="1"/><text>a &amp; b</text></svg>')).toEqual(['svg', 'g', 'text']);
  });
});

describe('curveSvg', () => {
  const steps = Array.from({ length: 20 }, (_, i) => i * 5000);

  it('draws series, a band, a reference line, axes labels and a legend', () => {
    const svg = curveSvg({
      title: 'hopper-medium-v2: DSRL vs base',
      xLabel: 'env steps',
      yLabel: 'eval return',
      series: [
        { name: 'DSRL', points: steps.map((s) => [s, 1000 + s / 50]), band: steps.map((s) => [s, 900 + s / 50, 1100 + s / 50]) },
        { name: 'SAC', points: steps.map((s) => [s, 500 + s / 100]) },
      ],
      hlines: [{ name: 'base policy', value: 1200 }],
    });
    const names = checkXml(svg);
    expect(names[0]).toBe('svg');
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(count(names, 'path')).toBe(2);
    expect(count(names, 'polygon')).toBe(1);
    expect(svg).toMatch(/<line class="hline"[^>]*stroke-dasharray/);
    for (const text of ['DSRL', 'SAC', 'base policy', 'env steps', 'eval return', 'hopper-medium-v2: DSRL vs base']) {
      expect(svg).toContain(`>${text}</text>`);
    }
    // x ticks at round values with SI suffixes.
    expect(svg).toContain('>0</text>');
    expect(svg).toContain('>100k</text>');
    expect(svg).not.toContain('no data');

    // Every drawn coordinate is inside the canvas.
    const coords = [...svg.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(coords.length).toBe(40);
    for (const [x, y] of coords) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(720);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(420);
    }
  });

  it('widens the canvas to fit a long legend name instead of clipping it', () => {
    const name = 'DSRL-NA, demonstrations in the buffer (3 seeds)';
    const points: [number, number][] = [
      [0, 0],
      [10, 1],
    ];
    const short = curveSvg({ series: [{ name: 'SAC', points }] });
    const long = curveSvg({
      series: [
        { name: 'SAC', points },
        { name, points },
      ],
    });
    const widthOf = (svg: string) => Number(svg.match(/<svg [^>]*width="([\d.]+)"/)![1]);
    expect(widthOf(short)).toBe(720);
    const textX = Number(long.match(new RegExp(`<text x="([\\d.]+)"[^>]*>${name.replace(/[()]/g, '\\$&')}</text>`))![1]);
    // 7 px per character is generous for a 12 px sans-serif font (about 6.5 px on average).
    expect(textX + 7 * name.length).toBeLessThanOrEqual(widthOf(long));
    // The plot keeps the width it has beside a legend of a third of the default 720 px.
    const frameW = Number(long.match(/<rect x="70" [^>]*width="([\d.]+)"/)![1]);
    expect(frameW).toBe(720 - 70 - 720 / 3);
  });

  it('puts higher values higher on the page', () => {
    const svg = curveSvg({
      series: [
        {
          name: 'up',
          points: [
            [0, 0],
            [10, 100],
          ],
        },
      ],
    });
    const [, y0, y1] = svg.match(/d="M[\d.]+,([\d.]+) L[\d.]+,([\d.]+)"/)!.map(Number);
    expect(y1).toBeLessThan(y0);
  });

  it('escapes names so the XML stays valid', () => {
    const svg = curveSvg({
      title: 'a < b & "c"',
      series: [
        {
          name: '<script>&',
          points: [
            [0, 1],
            [1, 2],
          ],
        },
      ],
    });
    checkXml(svg);
    expect(svg).toContain('&lt;script&gt;&amp;');
    expect(svg).not.toContain('<script>');
  });

  it('handles empty input', () => {
    for (const series of [[], [{ name: 'none yet', points: [] }]]) {
      const svg = curveSvg({ series, title: 'empty' });
      const names = checkXml(svg);
      expect(svg).toContain('no data');
      expect(count(names, 'path')).toBe(0);
    }
  });

  it('shows a single point as a dot', () => {
    const svg = curveSvg({ series: [{ name: 'one', points: [[1000, 5]] }] });
    const names = checkXml(svg);
    expect(count(names, 'circle')).toBe(1);
    expect(count(names, 'path')).toBe(0);
    expect(svg).not.toContain('NaN');
  });

  it('breaks lines at NaN and infinite values instead of plotting them', () => {
    const svg = curveSvg({
      series: [
        {
          name: 'gappy',
          points: [
            [0, 1],
            [1, 2],
            [2, NaN],
            [3, 3],
            [4, 4],
            [5, Infinity],
            [6, 5],
          ],
        },
      ],
      hlines: [{ name: 'unknown base', value: NaN }],
    });
    const names = checkXml(svg);
    expect(count(names, 'path')).toBe(2);
    expect(count(names, 'circle')).toBe(1);
    expect(svg).not.toContain('class="hline"');
    expect(svg).not.toMatch(/NaN|Infinity/);

    const allNaN = curveSvg({
      series: [
        {
          name: 'x',
          points: [
            [0, NaN],
            [1, NaN],
          ],
        },
      ],
    });
    checkXml(allNaN);
    expect(allNaN).toContain('no data');
    expect(allNaN).not.toMatch(/NaN|Infinity/);
  });

  it('sorts points by step', () => {
    const svg = curveSvg({
      series: [
        {
          name: 's',
          points: [
            [2, 1],
            [0, 1],
            [1, 1],
          ],
        },
      ],
    });
    const xs = [...svg.matchAll(/[ML]([\d.]+),/g)].map((m) => Number(m[1]));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });
});

describe('axis helpers', () => {
  it('picks round ticks that cover the data', () => {
    expect(niceTicks(0, 1e6).ticks).toEqual([0, 2e5, 4e5, 6e5, 8e5, 1e6]);
    const { ticks, step } = niceTicks(-3.2, 287);
    expect(step).toBe(50);
    expect(ticks[0]).toBeLessThanOrEqual(-3.2);
    expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(287);
    expect(niceTicks(0.1, 0.35).ticks).toEqual([0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
    expect(() => niceTicks(1, 1)).toThrow();
  });

  it('formats tick labels', () => {
    expect(formatTick(0, 2e5)).toBe('0');
    expect(formatTick(2e5, 2e5)).toBe('200k');
    expect(formatTick(1e6, 2e5)).toBe('1M');
    expect(formatTick(1.2e6, 2e5)).toBe('1.2M');
    expect(formatTick(1500, 500)).toBe('1.5k');
    expect(formatTick(-2500, 500)).toBe('-2.5k');
    expect(formatTick(0.15, 0.05)).toBe('0.15');
    expect(formatTick(250, 50)).toBe('250');
    expect(formatTick(-0, 0.1)).toBe('0.0');
  });

  it('aggregates seeds into mean ± std at steps all seeds logged', () => {
    const { points, band } = meanStdAcrossSeeds([
      [
        [0, 1],
        [10, 2],
        [20, 9],
      ],
      [
        [0, 3],
        [10, 4],
        [15, 7],
      ],
      [
        [0, 5],
        [10, NaN],
        [20, 3],
      ],
    ]);
    expect(points).toEqual([[0, 3]]);
    const std = Math.sqrt(8 / 3);
    expect(band[0][1]).toBeCloseTo(3 - std, 12);
    expect(band[0][2]).toBeCloseTo(3 + std, 12);
    expect(meanStdAcrossSeeds([])).toEqual({ points: [], band: [] });
  });
});

describe('browser-safe modules', () => {
  it('import nothing from Node', () => {
    for (const file of ['curve.ts', 'tfevents.ts', 'metrics-format.ts', 'format.ts']) {
      const source = readFileSync(new URL(`../src/run/${file}`, import.meta.url), 'utf8');
      expect(source, file).not.toMatch(/from ['"](node:|fs|os|path)/);
      expect(source, file).not.toMatch(/\b(process|Buffer|require)\b/);
    }
  });
});
