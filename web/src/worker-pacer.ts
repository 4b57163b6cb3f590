/**
 * Paces a training loop that runs in a Web Worker (toy-worker.ts, hopper-worker.ts): progress is posted at most
 * every `everyMs` and whenever `key(progress)` changes, the loop yields to the worker's messages every ~30 ms of
 * work (so a pause arrives), and a pause holds it at the next yield. None of it changes what is computed.
 */
export class WorkerPacer<P> {
  paused = false;
  private resume: (() => void) | null = null;
  private t0 = 0;
  private pausedMs = 0;
  private lastPost = 0;
  private lastYield = 0;
  private lastKey: string | null = null;

  constructor(
    private readonly post: (progress: P) => void,
    private readonly everyMs: number,
    private readonly key: (progress: P) => string,
  ) {}

  start(): void {
    this.t0 = performance.now();
  }

  /** Seconds since start, with the pauses left out. */
  seconds(): number {
    return (performance.now() - this.t0 - this.pausedMs) / 1000;
  }

  /** Handles a pause or resume message; false for any other. */
  control(type: string): boolean {
    if (type === 'pause') this.paused = true;
    else if (type === 'resume') {
      this.paused = false;
      this.resume?.();
      this.resume = null;
    } else return false;
    return true;
  }

  /** The training loop's yield hook. */
  readonly hold = async (progress: () => P): Promise<void> => {
    const now = performance.now();
    const p = progress();
    const key = this.key(p);
    if (now - this.lastPost >= this.everyMs || key !== this.lastKey) {
      this.lastPost = now;
      this.lastKey = key;
      this.post(p);
    }
    if (now - this.lastYield >= 30) {
      // A macrotask: the worker reads its messages (a pause) before training goes on.
      await new Promise((r) => setTimeout(r, 0));
      this.lastYield = performance.now();
    }
    if (this.paused) {
      this.post(progress());
      const since = performance.now();
      await new Promise<void>((r) => (this.resume = r));
      this.pausedMs += performance.now() - since;
    }
  };
}
