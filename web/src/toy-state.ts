/** What the toy page shows, as `window.dsrlToy` (for scripts and test/web-toy.test.ts). Types only. */
import type { ToyConfig, ToyProgress, ToyResult } from '../../src/web/toy-training.ts';

export interface ToyPageState {
  status: 'idle' | 'running' | 'paused' | 'done' | 'error';
  progress: ToyProgress | null;
  result: ToyResult | null;
  /** Seconds the worker trained (pauses included). */
  seconds: number | null;
  error: string | null;
}
declare global {
  interface Window {
    dsrlToy: ToyPageState;
    /** Starts a run with some of TOY_PAGE_CONFIG changed, on the automatic backend or the TypeScript one. */
    dsrlToyStart(config?: Partial<ToyConfig>, backend?: 'auto' | 'js'): void;
  }
}
