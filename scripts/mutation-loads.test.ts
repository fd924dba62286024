/**
 * Part of every `pnpm test:mutation` run (stryker.config.mjs adds it), not of `pnpm test`: the
 * module under mutation loads. A mutant that makes it throw while loading (an empty glob in the
 * guarded table makes picomatch throw) fails every test file that imports it, so `pnpm test` goes
 * red; but Stryker 9.6.1's vitest runner sees no test result in a file that failed to load and
 * reports such a mutant "survived". Importing the module inside a test turns that into a failed test.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { MODULES } from './mutation-modules.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const name = process.env.PRBOT_MUTATION_MODULE ?? '';
const files = [
  ...new Set(
    Object.entries(MODULES)
      .filter(([n]) => !name || n === name)
      .flatMap(([, m]) => m.mutate.map((spec) => spec.replace(/:\d+-\d+$/, ''))),
  ),
];

it.each(files)('%s loads', async (file) => {
  await expect(import(path.join(root, file))).resolves.toBeTypeOf('object');
});
