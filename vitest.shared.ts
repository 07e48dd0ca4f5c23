import { defineProject } from 'vitest/config';

// Tests resolve sibling packages to their TypeScript sources through the `@abi/source`
// export condition, so no build is needed before `vitest run`. It must be ssr.resolve:
// node-environment tests ignore a top-level resolve.conditions.
const conditions = ['@abi/source', 'import', 'module', 'node', 'default'];

export default defineProject({
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
