/** The built-in SGEMM's instruction sets this CPU runs (gemmIsa refuses the others), for tests that loop over them. */
import { setNativeGemm, type GemmIsa } from '../../src/nn/native-loader.ts';

/** Leaves the built-in SGEMM selected, on the last ISA tried: callers restore what they need. */
export function builtinGemmIsas(): GemmIsa[] {
  const out: GemmIsa[] = [];
  for (const isa of ['avx512', 'avx2', 'generic'] as const) {
    try {
      setNativeGemm('builtin', isa);
      out.push(isa);
    } catch {
      // this CPU lacks the ISA: nothing to test on it
    }
  }
  return out;
}
