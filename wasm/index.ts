// Entry of the WebAssembly SIMD NN backend (src/nn/wasm-backend.ts drives it): built by scripts/build-wasm.mjs.
export { gemm, gemmWorkFloats } from './gemm';
export { adam, axpby, biasAct, biasActBackward, lnActBackward, lnActForward, sumSquares } from './kernels';
