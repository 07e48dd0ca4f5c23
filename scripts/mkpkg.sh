#!/usr/bin/env bash
# Creates an empty workspace package: scripts/mkpkg.sh <dir> <name> "<description>"
set -euo pipefail
dir=$1; name=$2; desc=$3
mkdir -p "$dir/src" "$dir/test"
cat > "$dir/package.json" <<JSON
{
  "name": "$name",
  "version": "0.0.0",
  "description": "$desc",
  "license": "MIT",
  "type": "module",
  "sideEffects": false,
  "exports": {
    ".": { "@abi/source": "./src/index.ts", "types": "./dist/index.d.ts", "default": "./dist/index.js" },
    "./package.json": "./package.json"
  },
  "files": ["dist", "src", "!src/**/*.test.ts"],
  "engines": { "node": ">=20.19" },
  "scripts": {
    "build": "tsc -p tsconfig.build.json",
    "typecheck": "tsc -p tsconfig.json",
    "lint": "eslint .",
    "test": "vitest run --passWithNoTests",
    "bench": "tsx --conditions=@abi/source bench/index.ts",
    "example": "tsx --conditions=@abi/source examples/quickstart.ts"
  },
  "dependencies": {},
  "devDependencies": { "@abi/bench-kit": "workspace:*" }
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{ "extends": "../../tsconfig.base.json", "compilerOptions": { "noEmit": true }, "include": ["src", "test", "bench", "examples", "vitest.config.ts"] }
JSON
cat > "$dir/tsconfig.build.json" <<JSON
{ "extends": "../../tsconfig.base.json", "compilerOptions": { "rootDir": "src", "outDir": "dist", "noEmit": false }, "include": ["src"], "exclude": ["src/**/*.test.ts"] }
JSON
echo "export { default } from '../../vitest.shared.js';" > "$dir/vitest.config.ts"
