/** What the page shows, as `window.dsrlViewer` (for scripts and test/web-viewer.test.ts). Types only. */
export interface ViewerState {
  ready: boolean;
  error: string | null;
  run: number;
  panes: { name: string; frame: number; frames: number }[];
  chart: { x: number[]; series: Record<string, (number | null)[]>; yLabel: string } | null;
  /** Canvas pixels where the centres of the moving bodies' geoms are drawn in a pane. */
  geomScreen(pane: number): { x: number; y: number }[];
}
declare global {
  interface Window {
    dsrlViewer: ViewerState;
  }
}
