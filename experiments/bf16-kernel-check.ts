/**
 * Checks the native bf16 product (native/bf16.c) on this CPU against a float64 reference, the same check as
 * test/nn-bf16.test.ts, for machines where the test tools are not installed (the AMX kernel was checked this way
 * on a CPU that has AMX). Checks each kernel this CPU can run: AVX512-BF16, then AMX where there is one.
 *
 *   npx tsx experiments/bf16-kernel-check.ts
 * One line per kernel: bf16-check kernel=<amx|avx512-bf16|none> shapes=<n> failures=<n>
 */
import { getBackend } from '../src/nn/backend.ts';
import { nativeBf16, nativeBf16Kernel, setNativeBf16Kernel } from '../src/nn/native-loader.ts';
import { checkBf16Product } from '../test/helpers/bf16-reference.ts';

getBackend(); // loads the addon
const k = nativeBf16();
const detected = nativeBf16Kernel();
if (!k) {
  console.log(`bf16-check kernel=none shapes=0 failures=0 (backend ${getBackend().name}: no addon, or a CPU without AVX512-BF16)`);
  process.exit(0);
}
// Every 16-row edge (M 15-17, 31-33), K below, at and past one 32-wide AMX step, N partial panels, and the Hopper
// base policy's products at batch 256 (K 512 hidden, K 39 input).
const shapes: [number, number, number][] = [
  [1, 67, 130],
  [15, 33, 31],
  [16, 32, 32],
  [17, 50, 100],
  [31, 64, 33],
  [32, 96, 64],
  [33, 64, 600],
  [48, 40, 27],
  [100, 130, 513],
  [256, 512, 39],
  [256, 512, 512],
];
let failures = 0;
for (const kernel of detected === 'amx' ? (['avx512-bf16', 'amx'] as const) : (['avx512-bf16'] as const)) {
  setNativeBf16Kernel(kernel);
  let kernelFailures = 0;
  for (const [M, N, K] of shapes) {
    const failure = checkBf16Product(k, M, N, K);
    console.log(`${kernel} M=${M} N=${N} K=${K}: ${failure ?? 'ok'}`);
    if (failure) kernelFailures++;
  }
  console.log(`bf16-check kernel=${kernel} shapes=${shapes.length} failures=${kernelFailures}`);
  failures += kernelFailures;
}
process.exit(failures ? 1 : 0);
