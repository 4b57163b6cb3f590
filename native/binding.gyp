{
  # dsrl_blas: "builtin" (gemm.c's kernels only) or "openblas" (also link OpenBLAS, the default gemm then);
  # scripts/build-native.mjs sets it after checking that cblas.h and libopenblas compile and link here.
  # No -march=native: gemm.c picks its AVX-512 / AVX2 / generic kernels at run time, so the addon runs on any
  # x86-64 it is copied to.
  "variables": { "dsrl_blas%": "builtin" },
  "targets": [
    {
      "target_name": "dsrl_native",
      "sources": ["dsrl_native.c", "programs.c", "kernels.c", "gemm.c", "pool.c", "bf16.c"],
      "libraries": ["-lm", "-lpthread"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fassociative-math", "-fno-signed-zeros", "-std=gnu11", "-pthread"],
      "cflags!": ["-O2"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3"] },
      "conditions": [
        ["dsrl_blas=='openblas'", {
          "defines": ["DSRL_HAVE_CBLAS"],
          "include_dirs": ["/usr/include/x86_64-linux-gnu", "/usr/include/openblas"],
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
