/**
 * Pixel checks of the viewer's three.js canvas for the browser tests: whether each moving geom is drawn where
 * the page projects its centre (window.dsrlViewer.geomScreen), judged by the geom's own colour.
 */
import type { Page } from 'playwright-core';
import type { EpisodeGeom } from '../../src/run/episode-format.ts';
import type {} from '../../web/src/viewer-state.ts';

/**
 * How a geom's colour looks once lit (three.js Lambert, sRGB output), told apart from the scenes' sky (pale blue),
 * floor (bluish checker) and table (brown):
 * - warm: the locomotion robots' rgba 0.8 0.6 0.4 (lit about 194 171 142): red well above blue;
 * - red: the manipulation cube's 0.8 0.1 0.1: red far above green and blue;
 * - grey: the robot arm's 0.5 0.5 0.5 (lit 140-190, equal channels under white light), not the darker pedestal
 *   (0.3: about 123) nor the floor's light squares (about 222 225 228).
 */
export type ColourClass = 'warm' | 'red' | 'grey';

export function colourClass(rgba: readonly number[]): ColourClass {
  const [r, g, b] = rgba;
  if (Math.max(r, g, b) - Math.min(r, g, b) < 0.05) return 'grey';
  if (r - g > 0.4 && r - b > 0.4) return 'red';
  if (r - b > 0.2) return 'warm';
  throw new Error(`no pixel test for geom colour ${rgba.join(' ')}`);
}

/** The geoms the page reports in geomScreen, in its order: those of moving bodies (not the world's) that scene.ts draws. */
export function movingGeoms(geoms: readonly EpisodeGeom[]): EpisodeGeom[] {
  return geoms.filter((g) => g.body > 0 && ['sphere', 'ellipsoid', 'capsule', 'cylinder', 'box'].includes(g.type));
}

export interface PaneHits {
  /** Pixels of the pane in each colour class. */
  counts: Record<ColourClass, number>;
  /** Per moving geom: whether a pixel of its colour class lies within `radius` px of its projected centre. */
  hit: boolean[];
  /** The projected centres (canvas pixels). */
  centres: { x: number; y: number }[];
}

/** Reads the canvas (preserveDrawingBuffer keeps the last frame) and checks pane `pane` (x0, width) against `classes`. */
export async function paneHits(page: Page, pane: number, x0: number, width: number, classes: ColourClass[], radius = 6): Promise<PaneHits> {
  return page.evaluate(
    ({ pane, x0, width, classes, radius }) => {
      const canvas = document.getElementById('scene') as HTMLCanvasElement;
      const copy = document.createElement('canvas');
      copy.width = canvas.width;
      copy.height = canvas.height;
      const ctx = copy.getContext('2d')!;
      ctx.drawImage(canvas, 0, 0);
      const img = ctx.getImageData(x0, 0, width, canvas.height);
      const d = img.data;
      const is: Record<string, (i: number) => boolean> = {
        warm: (i) => d[i] > 120 && d[i] - d[i + 2] > 30,
        red: (i) => d[i] > 100 && d[i] - d[i + 1] > 60 && d[i] - d[i + 2] > 60,
        grey: (i) => d[i] >= 130 && d[i] <= 205 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) <= 2,
      };
      const counts = { warm: 0, red: 0, grey: 0 };
      for (let i = 0; i < d.length; i += 4) for (const k of ['warm', 'red', 'grey'] as const) if (is[k](i)) counts[k]++;
      const centres = window.dsrlViewer.geomScreen(pane);
      const hit = centres.map((c, j) => {
        const test = is[classes[j]];
        if (!test) return false;
        for (let dy = -radius; dy <= radius; dy++)
          for (let dx = -radius; dx <= radius; dx++) {
            const x = Math.round(c.x - x0 + dx);
            const y = Math.round(c.y + dy);
            if (x >= 0 && y >= 0 && x < img.width && y < img.height && test((y * img.width + x) * 4)) return true;
          }
        return false;
      });
      return { counts, hit, centres };
    },
    { pane, x0, width, classes, radius },
  );
}
