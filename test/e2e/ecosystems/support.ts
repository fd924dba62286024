import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CycleRecord } from '@prbot/core';
import { git } from '@prbot/repo';
import {
  createHarness,
  REPO_ROOT,
  startModelServer,
  type Harness,
  type ModelServer,
  type RecordedRequest,
  type Script,
} from '@prbot/test-support';
import { runAll, type Run } from '../../../apps/worker/test/helpers.ts';

/**
 * The ecosystem suite's one setup per library: the vendored bundle (test/fixtures/ecosystems)
 * cloned, a PRD of the gaps written beside its code, the real pipeline (produce → propose →
 * apply → test in the sandbox → pr) run once over every gap, with the loopback model server
 * answering each gap with its scripted files.
 *
 * Each weakening form comes with a control: the same files plus GUARD_OFF_MARK, a harmless new
 * file for which the test file's `vi.mock` switches the test guard off. The control ending `ok`
 * (the library's own tests green in the sandbox) shows that the weakening alone would have made
 * the broken change green, so the refusal is what stops it.
 */
export const GUARD_OFF_MARK = 'docs/guard-off-control.md';
export const guardOff = {
  path: GUARD_OFF_MARK,
  is_new: true,
  content: 'Control cycle: the test guard is off for this change (test/e2e/ecosystems).\n',
};

export type Files = unknown[];

/**
 * For setup commands with a network: a machine whose egress re-signs TLS (a proxy with its own
 * CA) names that CA in NODE_EXTRA_CA_CERTS; npm inside the sandbox needs the same file (under
 * /etc, which the sandbox shows read-only). A path, not a secret.
 */
export const caEnv = (): Record<string, string> =>
  process.env.NODE_EXTRA_CA_CERTS?.startsWith('/etc/') ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {};
export const edit = (p: string, search: string, replace: string) => ({
  path: p,
  is_new: false,
  edits: [{ search, replace }],
});
export const add = (p: string, content: string) => ({ path: p, is_new: true, content });

export interface Library {
  run: Run;
  h: Harness;
  byGap(fragment: string): CycleRecord;
  close(): Promise<void>;
}

/** `gaps`: gap text → the files the model answers with. */
export async function runLibrary(
  fixture: string,
  gaps: Record<string, Files>,
  tests: Record<string, unknown>,
): Promise<Library> {
  const server: ModelServer = await startModelServer((req: RecordedRequest): Script => {
    const user = req.body.messages.map((m) => m.content).join('\n');
    // The longest gap first: one gap's text may contain another's.
    const hit = Object.keys(gaps)
      .sort((a, b) => b.length - a.length)
      .find((g) => user.includes(g));
    return hit
      ? { content: JSON.stringify({ summary: hit.slice(0, 60), files: gaps[hit] }) }
      : { content: 'unknown gap' };
  });
  const repo = await mkdtemp(path.join(tmpdir(), `prbot-${fixture}-`));
  await git(
    [
      'clone',
      '--quiet',
      '--branch',
      'fixture',
      path.join(REPO_ROOT, 'test', 'fixtures', 'ecosystems', `${fixture}.bundle`),
      repo,
    ],
    { cwd: tmpdir() },
  );
  await rm(path.join(repo, '.git'), { recursive: true, force: true });
  await mkdir(path.join(repo, 'docs'), { recursive: true });
  await writeFile(
    path.join(repo, 'docs', 'PRD.md'),
    `# PRD\n\n${Object.keys(gaps)
      .map((g) => `- [ ] ${g} [bot-eligible]`)
      .join('\n')}\n`,
  );
  const h = await createHarness({
    repo,
    config: {
      models: { providers: { loop: { kind: 'openai', baseUrl: server.baseUrl } }, propose: ['loop/m'] },
      tests,
      policy: { maxGapsPerRun: 50 },
      budget: { callsPerDay: 200, tokensPerDay: 10_000_000 },
      forge: { kind: 'local', maxOpen: 50, maxPerHour: 50 },
    },
  });
  await rm(repo, { recursive: true, force: true });
  const run = await runAll(h.rt, { timeoutMs: 540_000 });
  if (process.env.PRBOT_E2E_DEBUG)
    for (const r of run.records)
      console.log(
        r.outcome,
        r.gap_text,
        '\n',
        r.reason,
        process.env.PRBOT_E2E_DEBUG === '2' ? JSON.stringify(r.tests, null, 1) : '',
      );
  return {
    run,
    h,
    byGap: run.byGap,
    async close() {
      await h.cleanup();
      await server.close();
    },
  };
}
