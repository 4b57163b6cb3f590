// Recorded op lists ("programs", src/nn/concurrent.ts), each run whole on its own thread of pool.c's pool.
#ifndef DSRL_PROGRAMS_H
#define DSRL_PROGRAMS_H
#include <node_api.h>

// runPrograms(programs: {nums: Float64Array, arrays: (Float32Array | null)[]}[]) -> boolean; see programs.c.
napi_value dsrl_run_programs(napi_env env, napi_callback_info info);
// Whether gemm() goes to OpenBLAS now (dsrl_native.c owns the switch): programs then do not run.
int dsrl_gemm_uses_openblas(void);

#endif
