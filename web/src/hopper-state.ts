/** What the Hopper training page shows, as `window.dsrlHopper` (for scripts and test/web-hopper.test.ts). Types only. */
import type { HopperConfig, HopperProgress, HopperResult } from '../../src/web/hopper-training.ts';

export interface HopperPageState {
  status: 'idle' | 'running' | 'paused' | 'done' | 'error';
  progress: HopperProgress | null;
  result: HopperResult | null;
  /** Seconds the worker trained so far (pauses left out), and env steps per second over them. */
  seconds: number | null;
  sps: number | null;
  /** When each phase began: seconds of training and env steps then (speeds of the warm-up and of learning). */
  phases: { phase: HopperProgress['phase']; seconds: number; envSteps: number }[];
  error: string | null;
  /** Recorded episodes in the panes: base policy, then the newest steered one. */
  panes: { label: string; frame: number; frames: number }[];
}
declare global {
  interface Window {
    dsrlHopper: HopperPageState;
    /** Starts a run with some of HOPPER_DEMO_CONFIG changed, on the automatic backend or the TypeScript one. */
    dsrlHopperStart(config?: Partial<HopperConfig>, backend?: 'auto' | 'js'): void;
  }
}
