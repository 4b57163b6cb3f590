/** What the page shows, as `window.dsrlViewer` (for scripts and the browser tests). Types only. */
export interface ViewerState {
  /** 'server': `dsrl view`'s /api, followed live; 'static': a static site showing bundled demos and files the user picks. */
  mode: 'server' | 'static' | null;
  ready: boolean;
  error: string | null;
  run: number;
  /** `trainedSteps`: env steps the episode's actor had trained for (0: a reference such as the base policy). */
  panes: { name: string; frame: number; frames: number; trainedSteps: number | null }[];
  chart: { x: number[]; series: Record<string, (number | null)[]>; yLabel: string } | null;
  /** The loss chart (null: no losses/... in the run's metrics.jsonl yet): the series drawn, every loss name, lines skipped. */
  losses: { x: number[]; series: Record<string, (number | null)[]>; scale: 'linear' | 'log' | 'asinh'; keys: string[]; skipped: number } | null;
  /** Live updates applied to the shown run; after each, the evaluations on the chart and the time (Date.now()). */
  live: { connected: boolean; updates: number; evalCounts: number[]; appliedAt: number[] };
  /** Canvas pixels where the centres of the moving bodies' geoms are drawn in a pane. */
  geomScreen(pane: number): { x: number; y: number }[];
}
declare global {
  interface Window {
    dsrlViewer: ViewerState;
  }
}
