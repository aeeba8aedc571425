// The package's TypeScript declarations as a consumer sees them: `tsc --noEmit` (strict) on
// consumer.ts, which imports the packed tarball installed into a throwaway project, with the
// two module resolutions portal projects use (bundler, nodenext).

import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { REPO_ROOT } from '../harness/index.mjs';
import { installTarball, packPackage, sh, tempDir } from './support.mjs';

const TSC = join(REPO_ROOT, 'tests', 'node_modules', 'typescript', 'bin', 'tsc');
let tmp;

before(async () => {
  tmp = tempDir('tm-types-');
  const { tarball } = await packPackage(tmp.dir);
  await installTarball(tmp.dir, tarball);
  copyFileSync(new URL('./consumer.ts', import.meta.url), join(tmp.dir, 'consumer.ts'));
});

after(() => tmp?.remove());

for (const [module, moduleResolution] of [
  ['esnext', 'bundler'],
  ['nodenext', 'nodenext'],
]) {
  test(`tsc --noEmit: consumer.ts type-checks (moduleResolution ${moduleResolution})`, async () => {
    const config = `tsconfig.${moduleResolution}.json`;
    writeFileSync(
      join(tmp.dir, config),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module,
          moduleResolution,
          lib: ['es2022', 'dom'],
          types: [],
          skipLibCheck: false,
          noUnusedLocals: true,
          exactOptionalPropertyTypes: true,
        },
        files: ['consumer.ts'],
      }),
    );
    await sh(process.execPath, [TSC, '-p', config], { cwd: tmp.dir });
  });
}
