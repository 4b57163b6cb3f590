import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2-core CI machine: two forks keep both cores busy without oversubscribing OpenBLAS.
    pool: 'forks',
    maxWorkers: 2,
    // One OpenBLAS thread per test process: two forks with two BLAS threads each oversubscribe the
    // two cores, and OpenBLAS's spinning threads then slow small products by orders of magnitude.
    env: { OPENBLAS_NUM_THREADS: '1' },
    // `npm test` runs every test; `npm run test:fast` leaves out the ones tagged `learning`.
    tags: [
      {
        name: 'learning',
        description:
          'Trains an agent or a policy for hundreds to thousands of steps and checks what it learned (seconds each on 2 cores). `npm run test:fast` skips these.',
      },
    ],
  },
});
