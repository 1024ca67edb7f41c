import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const sharedSrc = fileURLToPath(new URL('./packages/shared/src/index.ts', import.meta.url));

export default defineConfig({
  resolve: { alias: { '@cdc/shared': sharedSrc } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // One module graph per worker, not per file: importing the SDKs again for each of ~100 files took two
          // thirds of the run (120 s → 40 s). The tests keep no state between files (checked with
          // --sequence.shuffle) and inject collaborators instead of vi.mock, which a shared graph would not honour.
          isolate: false,
          // test/**/*.unit.test.ts: contract suites run against the in-memory fakes.
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'test/**/*.unit.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          fileParallelism: false,
          setupFiles: ['test/helpers/log-tails-on-failure.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          // Restarts shared components: run alone (bash deploy/local/fault-suite.sh), never beside other suites.
          name: 'fault',
          include: ['test/fault/**/*.fault.test.ts'],
          fileParallelism: false,
          setupFiles: ['test/helpers/log-tails-on-failure.ts'],
          testTimeout: 600_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
