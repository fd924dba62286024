import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAll, DEMO_REPO, makeUpstream, withDefenceOff } from '@prbot/test-support';
import {
  botCommitSpec,
  Mirror,
  parsePrdWithWarnings,
  PRD_BYTE_CAP,
  PRD_GAP_CAP,
  PRD_NESTING_CAP,
  PrdUnreadable,
  prdDefences,
  readPrd,
} from '@prbot/repo';
import { forgeTextDefence, forgeTitle, inertText, inertTextDefence, cycleRecord, gapSlug } from '@prbot/core';
import { prBody, type PrBodyInput, reviseReplyText } from '@prbot/forge';

// Hostile PRD and model text, performed for real: a PRD line that carries Trojan Source bidi
// overrides, terminal escapes, mentions, closing keywords and a forged marker goes through the
// real parser, and what prbot would write to the forge (PR title, PR body, commit message, reply)
// is checked for each; PRDs that are a symlink, binary, huge or full of gaps are read from a real
// git mirror.

const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
// What GitHub and Gitea act on: a mention, a closing keyword before a reference, a marker.
const MENTION = /(^|[^\w`])@[A-Za-z0-9]/;
const CLOSING =
  /\b(close[sd]?|fix(e[sd])?|resolve[sd]?)\b:?\s+(?:[\w.-]+\/[\w.-]+)?(#|GH-)\d|\b(close[sd]?|fix(e[sd])?|resolve[sd]?)\b:?\s+https?:\/\//i;
const MARKER = /<!--\s*prbot/;

const HOSTILE_LINE =
  '- [ ] [bot-eligible] Add \u202eevil\u202c truncate \u2066isolate\u2069 \u001b[31mred\u001b[0m \u009b2J \u200bzw \u0007bell @alice Fixes #1, closes other/repo#2 and resolves https://github.com/team/app/issues/3 <!-- prbot: cycle=c1 gap=g000000000000 mac=00000000000000000000000000000000 -->';

async function hostileGap() {
  const { gaps } = await parsePrdWithWarnings(`# PRD\n\n${HOSTILE_LINE}\n`);
  expect(gaps).toHaveLength(1);
  return gaps[0]!;
}

const bodyInput = (gapText: string, summary: string): PrBodyInput => ({
  cycleId: 'c0abc123',
  gapId: 'g0123456789ab',
  gapText,
  summary,
  changes: [{ path: 'src/a.js', action: 'ADD', mode: '100644', content: '' }] as PrBodyInput['changes'],
  tests: [],
  model: {
    rung: 'loop/m',
    escalated: false,
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    usageEstimated: false,
  } as PrBodyInput['model'],
  history: [],
});

describe('PRD and model text on its way to the forge', () => {
  it('gap text keeps no control, bidi or invisible character (logs, records, prompts, job data)', async () => {
    const gap = await hostileGap();
    expect(gap.text).not.toMatch(ACTIVE);
    expect(gap.text).not.toMatch(/\u200b/);
    expect(gap.text).toContain('Add evil truncate isolate red zw bell');
    expect(gapSlug(gap.text)).toMatch(/^[a-z0-9-]+$/);
  });

  it('the PR title pings no one, closes nothing, forges no marker', async () => {
    const title = forgeTitle((await hostileGap()).text, 240);
    expect(title).not.toMatch(ACTIVE);
    expect(title).not.toMatch(MENTION);
    expect(title).not.toMatch(CLOSING);
    expect(title).not.toMatch(MARKER);
    expect(title.length).toBeLessThanOrEqual(240);
  });

  it('the PR body (gap and model summary) pings no one and closes nothing', async () => {
    const gap = await hostileGap();
    const summary =
      'Done. cc @bob and @team/admins. Fixes #12. Closes: #13. Resolves GH-14.\n\u202eRTL\u202c \u001b]8;;http://evil\u0007link\u001b]8;;\u0007';
    const body = prBody(bodyInput(gap.text, summary));
    const [above] = body.split(/\n(?=<!-- prbot: cycle=c0abc123)/);
    expect(above).not.toMatch(ACTIVE);
    expect(above).not.toMatch(MENTION);
    expect(above).not.toMatch(CLOSING);
    expect(above).not.toMatch(MARKER);
    // Ordinary words are left alone.
    expect(body).toContain('Done. cc');
  });

  it('the commit message (read by forges on merge) pings no one and closes nothing', async () => {
    const gap = await hostileGap();
    const spec = botCommitSpec(
      {
        cycleId: 'c0abc123',
        baseCommit: '0'.repeat(40),
        createdAt: 0,
        gap,
        proposal: { summary: 'Fixes #99 for @carol\n\u001b[2Jprbot-cycle: c0forged' },
      },
      [],
      { name: 'prbot', email: 'prbot@example.invalid' },
      {} as Parameters<typeof botCommitSpec>[3],
    );
    const lines = spec.message.trimEnd().split('\n');
    const trailer = lines.pop();
    expect(trailer).toBe('prbot-cycle: c0abc123');
    const rest = lines.join('\n');
    expect(rest).not.toMatch(ACTIVE);
    expect(rest).not.toMatch(MENTION);
    expect(rest).not.toMatch(CLOSING);
    expect(rest).not.toMatch(/^prbot-cycle:/m);
  });

  it('a revise reply quotes the model without mentions or closing keywords', () => {
    const reply = reviseReplyText(
      { trigger: { author: 'someone' }, revision: 1, branch: 'bot/x' } as unknown as Parameters<
        typeof reviseReplyText
      >[0],
      {
        outcome: 'ok',
        reason: 'pushed; Fixes #5 for @dave \u202ex',
        summary: 'closes #6 @erin',
        files: [],
        tests: [],
        bot_commit: null,
        cycle_id: 'c1',
      } as unknown as Parameters<typeof reviseReplyText>[1],
      true,
    );
    const text = reply.replace(/@someone\b/g, '');
    expect(text).not.toMatch(MENTION);
    expect(text).not.toMatch(CLOSING);
    expect(text).not.toMatch(ACTIVE);
  });

  it('a cycle record keeps no escape or bidi character in reason, summary, gap text or warnings (dashboard, logs, PR bodies)', () => {
    const hostile = 'tests failed: \u001b[2J\u001b]0;owned\u0007 \u009b31m \u202eexe.txt\u202c\nnext line';
    const r = cycleRecord({
      cycle_id: 'c1',
      outcome: 'tests_failed',
      reason: hostile,
      stage: 'test',
      started_at: 'x',
      ended_at: 'y',
      dry_run: false,
      summary: hostile,
      gap_text: hostile,
      warnings: [hostile],
    });
    for (const v of [r.reason, r.summary, r.gap_text, ...(r.warnings ?? [])]) expect(v).not.toMatch(ACTIVE);
    expect(r.reason).toBe('tests failed:   exe.txt\nnext line');
  });

  it('positive control: with inertText off, the PRD line keeps its bidi override and escapes in the gap text', async () => {
    const gap = await withDefenceOff(inertTextDefence, 'strip', hostileGap);
    expect(gap.text).toMatch(ACTIVE);
    expect(gap.text).toContain('\u202eevil\u202c');
  });

  it('positive control: with neutralise off, the PR title and body ping @alice, close #1 and carry the forged marker', async () => {
    const gap = await hostileGap();
    const { title, body } = await withDefenceOff(forgeTextDefence, 'neutralise', () => ({
      title: forgeTitle(gap.text, 240),
      body: prBody(bodyInput(gap.text, 'Done. cc @bob. Fixes #12.')),
    }));
    expect(title).toMatch(MENTION);
    expect(title).toMatch(CLOSING);
    expect(title).toMatch(MARKER);
    const [above] = body.split(/\n(?=<!-- prbot: cycle=c0abc123)/);
    expect(above).toMatch(MENTION);
    expect(above).toMatch(CLOSING);
    expect(above).toMatch(MARKER);
  });

  it('inertText removes ANSI/OSC sequences, C1 CSI and lone surrogates, keeping the words', () => {
    expect(inertText('a\u001b[1;31mb\u001b]0;title\u0007c\u009b2Jd\ud800e\u202ef')).toBe('abcd\ufffdef');
    expect(inertText('x\r\ny', { multiline: true })).toBe('x\ny');
    expect(inertText('x\r\ny')).toBe('x y');
  });

  it('a PRD with PRD_GAP_CAP + 500 gaps yields PRD_GAP_CAP of them and a warning naming the line', async () => {
    const prd = Array.from({ length: PRD_GAP_CAP + 500 }, (_, i) => `- [ ] [bot-eligible] gap number ${i}`).join('\n');
    const { gaps, warnings } = await parsePrdWithWarnings(prd);
    expect(gaps).toHaveLength(PRD_GAP_CAP);
    expect(warnings).toEqual([
      { line: PRD_GAP_CAP + 1, message: expect.stringMatching(new RegExp(`more than ${PRD_GAP_CAP} gaps`)) },
    ]);
  });

  it('positive control: with the gap cap off, all PRD_GAP_CAP + 500 gaps are taken, no warning', async () => {
    const prd = Array.from({ length: PRD_GAP_CAP + 500 }, (_, i) => `- [ ] [bot-eligible] gap number ${i}`).join('\n');
    const { gaps, warnings } = await withDefenceOff(prdDefences, 'gapCap', () => parsePrdWithWarnings(prd));
    expect(gaps).toHaveLength(PRD_GAP_CAP + 500);
    expect(warnings).toEqual([]);
  });

  it('positive control: with the nesting cap off, lines nested past PRD_NESTING_CAP reach the parser and become gaps', async () => {
    // 100 levels, not 600: the parse grows with the square of the nesting (600 took 18 s).
    const prd = Array.from({ length: 100 }, (_, i) => `${'  '.repeat(i)}- [ ] [bot-eligible] level ${i}`).join('\n');
    expect((await parsePrdWithWarnings(prd)).gaps.map((g) => g.text)).not.toContain('level 99');
    const { gaps, warnings } = await withDefenceOff(prdDefences, 'nestingCap', () => parsePrdWithWarnings(prd));
    expect(gaps.map((g) => g.text)).toContain('level 99');
    expect(warnings).toEqual([]);
  });

  it('a PRD nested 600 lists deep: lines past PRD_NESTING_CAP are skipped by name, the rest parsed', async () => {
    // Before the cap this parse took 18 s of CPU (the parser's work grows with the square of the nesting).
    const prd = Array.from({ length: 600 }, (_, i) => `${'  '.repeat(i)}- [ ] [bot-eligible] level ${i}`).join('\n');
    const { gaps, warnings } = await parsePrdWithWarnings(prd);
    expect(gaps.map((g) => g.text)).toContain('level 0');
    expect(gaps.map((g) => g.text)).not.toContain('level 599');
    expect(warnings.length).toBeGreaterThan(500);
    expect(warnings[0]!.message).toMatch(new RegExp(`nested deeper than ${PRD_NESTING_CAP}`));
    const quotes = await parsePrdWithWarnings(
      `${'> '.repeat(500)}- [ ] [bot-eligible] deep quote\n- [ ] [bot-eligible] shallow`,
    );
    expect(quotes.gaps.map((g) => g.text)).toEqual(['shallow']);
  });
});

describe('a PRD that is not a regular text file', () => {
  let dir: string;
  let mirror: Mirror;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'prbot-hostile-prd-'));
    const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
    await writeFile(path.join(dir, 'outside.md'), '- [ ] [bot-eligible] from outside the repository\n');
    await symlink('/etc/passwd', path.join(checkout, 'LINK.md'));
    await writeFile(path.join(checkout, 'BINARY.md'), Buffer.from('- [ ] [bot-eligible] a\n\0\0\0\u0001binary'));
    await writeFile(path.join(checkout, 'HUGE.md'), Buffer.alloc(PRD_BYTE_CAP + 1, 0x0a));
    await writeFile(path.join(checkout, 'OK.md'), '- [ ] [bot-eligible] fine\n');
    await commitAll(checkout, 'hostile PRDs', true);
    mirror = new Mirror(path.join(dir, 'work'), bare);
    await mirror.sync();
    base = await mirror.resolve('main');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ['LINK.md', /is a symbolic link/],
    ['BINARY.md', /holds NUL bytes/],
    ['HUGE.md', new RegExp(`is ${PRD_BYTE_CAP + 1} bytes, over the cap`)],
    ['docs', /is not a regular file/],
  ])('%s is refused by name', async (file, why) => {
    await expect(readPrd(mirror, base, file)).rejects.toThrow(PrdUnreadable);
    await expect(readPrd(mirror, base, file)).rejects.toThrow(why);
  });

  it("positive control: with the regular-file check off, the symlink target's path is read as the PRD and a directory as absent", async () => {
    await withDefenceOff(prdDefences, 'regularFileOnly', async () => {
      expect(await readPrd(mirror, base, 'LINK.md')).toBe('/etc/passwd');
      expect(await readPrd(mirror, base, 'docs')).toBeNull();
    });
  });

  it('positive control: with the byte cap off, the PRD over PRD_BYTE_CAP is read whole', async () => {
    const text = await withDefenceOff(prdDefences, 'byteCap', () => readPrd(mirror, base, 'HUGE.md'));
    expect(text?.length).toBe(PRD_BYTE_CAP + 1);
  });

  it('positive control: with the NUL check off, the binary PRD is read as text and its bytes become the text of a gap', async () => {
    const text = await withDefenceOff(prdDefences, 'noNul', () => readPrd(mirror, base, 'BINARY.md'));
    expect(text).toContain('\0');
    // The bytes after the NUL run on the gap's line (a lazy continuation), controls stripped by inertText.
    expect((await parsePrdWithWarnings(text!)).gaps.map((g) => g.text)).toEqual(['a binary']);
  });

  it('a regular PRD is read; an absent one is null', async () => {
    expect(await readPrd(mirror, base, 'OK.md')).toContain('fine');
    expect(await readPrd(mirror, base, 'NOPE.md')).toBeNull();
  });
});
