/** Small pieces shared by the actor-critic algorithms. */

/** out[b] = [a[b], c[b]] for rows b: the critic input [obs, action]. Returns the filled view. */
export function concatRows(a: Float32Array, aDim: number, c: Float32Array, cDim: number, rows: number, out: Float32Array): Float32Array {
  const w = aDim + cDim;
  for (let b = 0; b < rows; b++) {
    out.set(a.subarray(b * aDim, (b + 1) * aDim), b * w);
    out.set(c.subarray(b * cDim, (b + 1) * cDim), b * w + aDim);
  }
  return out.subarray(0, rows * w);
}

/**
 * Per-row gradient of reduce_i(Q_i) for an ensemble: with 'min' the smallest critic of each row
 * gets `scale` (ties to the lowest index) and the others 0; with 'mean' each gets scale / n.
 * Writes dq[i][b] and returns sum_b reduce_i(Q_i)[b].
 */
export function ensembleReduceGrad(q: Float32Array[], rows: number, reduce: 'min' | 'mean', scale: number, dq: Float32Array[]): number {
  const n = q.length;
  let total = 0;
  for (let b = 0; b < rows; b++) {
    if (reduce === 'mean') {
      let s = 0;
      for (let i = 0; i < n; i++) {
        s += q[i][b];
        dq[i][b] = scale / n;
      }
      total += s / n;
    } else {
      let best = 0;
      for (let i = 1; i < n; i++) if (q[i][b] < q[best][b]) best = i;
      for (let i = 0; i < n; i++) dq[i][b] = i === best ? scale : 0;
      total += q[best][b];
    }
  }
  return total;
}
