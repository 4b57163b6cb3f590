/**
 * Small rotation helpers on row-major 3x3 matrices (MuJoCo's xmat layout) and quaternions, in plain JS so the
 * hot path allocates no wasm buffers. Quaternions are (w, x, y, z) unless a name says xyzw.
 */

/** Quaternion (w, x, y, z) of a row-major rotation matrix, written to out[offset..offset+4]; w >= 0. Shepperd's method. */
export function mat2quat(m: ArrayLike<number>, mOffset: number, out: Float64Array | Float32Array | number[], outOffset = 0): void {
  const m00 = m[mOffset],
    m01 = m[mOffset + 1],
    m02 = m[mOffset + 2];
  const m10 = m[mOffset + 3],
    m11 = m[mOffset + 4],
    m12 = m[mOffset + 5];
  const m20 = m[mOffset + 6],
    m21 = m[mOffset + 7],
    m22 = m[mOffset + 8];
  const trace = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (trace > 0) {
    const s = 2 * Math.sqrt(trace + 1);
    w = 0.25 * s;
    x = (m21 - m12) / s;
    y = (m02 - m20) / s;
    z = (m10 - m01) / s;
  } else if (m00 > m11 && m00 > m22) {
    const s = 2 * Math.sqrt(1 + m00 - m11 - m22);
    w = (m21 - m12) / s;
    x = 0.25 * s;
    y = (m01 + m10) / s;
    z = (m02 + m20) / s;
  } else if (m11 > m22) {
    const s = 2 * Math.sqrt(1 + m11 - m00 - m22);
    w = (m02 - m20) / s;
    x = (m01 + m10) / s;
    y = 0.25 * s;
    z = (m12 + m21) / s;
  } else {
    const s = 2 * Math.sqrt(1 + m22 - m00 - m11);
    w = (m10 - m01) / s;
    x = (m02 + m20) / s;
    y = (m12 + m21) / s;
    z = 0.25 * s;
  }
  const sign = w < 0 ? -1 : 1;
  const n = sign / Math.hypot(w, x, y, z);
  out[outOffset] = w * n;
  out[outOffset + 1] = x * n;
  out[outOffset + 2] = y * n;
  out[outOffset + 3] = z * n;
}

/** Row-major rotation matrix of a unit quaternion (w, x, y, z). */
export function quat2mat(q: ArrayLike<number>, qOffset = 0): Float64Array {
  const w = q[qOffset],
    x = q[qOffset + 1],
    y = q[qOffset + 2],
    z = q[qOffset + 3];
  return Float64Array.of(
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  );
}

/** Row-major matrix of the rotation by angle |v| about v (axis-angle vector, Rodrigues). */
export function axisAngle2mat(vx: number, vy: number, vz: number): Float64Array {
  const angle = Math.hypot(vx, vy, vz);
  if (angle < 1e-12) return Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const half = angle / 2;
  const s = Math.sin(half) / angle;
  return quat2mat([Math.cos(half), vx * s, vy * s, vz * s]);
}

/** a · b for row-major 3x3 matrices. */
export function matMul(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const r = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
  }
  return r;
}

/** aᵀ for a row-major 3x3 matrix. */
export function matT(a: ArrayLike<number>): Float64Array {
  return Float64Array.of(a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]);
}

/**
 * Axis-angle vector (world frame) of the rotation R_err = R_target · R_currentᵀ: the rotation that takes the
 * current orientation to the target one. Angle in [0, pi].
 */
export function rotationError(target: ArrayLike<number>, current: ArrayLike<number>): [number, number, number] {
  const r = matMul(target, matT(current));
  const q = new Float64Array(4);
  mat2quat(r, 0, q);
  const sinHalf = Math.hypot(q[1], q[2], q[3]);
  if (sinHalf < 1e-12) return [0, 0, 0];
  const angle = 2 * Math.atan2(sinHalf, q[0]);
  const k = angle / sinHalf;
  return [q[1] * k, q[2] * k, q[3] * k];
}
