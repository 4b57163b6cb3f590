/**
 * Polls until a condition holds, for tests that wait on another process, socket or page (vitest's `expect.poll`
 * cannot hand back the value it waited for). Returns the first truthy value of `get`; fails naming `what`.
 */
export type Maybe<T> = T | null | undefined | false;

export async function waitFor<T>(what: string, get: () => Maybe<T> | Promise<Maybe<T>>, timeoutMs = 5000, intervalMs = 25): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    const v = await get();
    if (v) return v;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
