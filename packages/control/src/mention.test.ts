import { describe, expect, it } from 'vitest';
import { mentions, mentionsWord, withoutQuotes } from './mention.ts';

// A mention is a mention the way the forges render it (issue 29): running text only.
describe('mentions (Markdown-aware)', () => {
  const cases: [string, boolean][] = [
    ['@prbot please rename it', true],
    ['Thanks! *@prbot* could you **rename** it?', true],
    ['- [ ] @prbot add a test', true],
    ['Use `@prbot` in a comment to ask for a revision.', false],
    ['```\n@prbot rename it\n```', false],
    ['    @prbot indented code block', false],
    ['> @prbot please rename the helper\n\nI disagree with this, keep the name.', false],
    ['> > @prbot nested quote\n\nno', false],
    ['<!-- @prbot hidden -->', false],
    ['[@prbot](https://example.com/prbot)', false],
    ['> @prbot old request\n\n@prbot but do this instead', true],
    ['`code` @prbot after a code span', true],
  ];
  for (const [body, want] of cases) {
    it(`${JSON.stringify(body)} → ${want}`, async () => {
      expect(await mentions(body, '@prbot')).toBe(want);
      // Positive control: the plain word match (what prbot did before) says yes to every one.
      expect(mentionsWord(body, '@prbot')).toBe(true);
    });
  }
});

describe('withoutQuotes', () => {
  it('drops the quoted text a reply answers and keeps what the reviewer wrote', async () => {
    const body =
      '> @prbot please rename `truncate` to `clip`\n> and update the tests\n\n@prbot no: keep the name, only fix the doc comment.';
    const kept = await withoutQuotes(body);
    expect(kept).toBe('@prbot no: keep the name, only fix the doc comment.');
    expect(kept).not.toContain('clip');
  });
  it('leaves a comment without quotes as it is', async () => {
    expect(await withoutQuotes('@prbot a > b is fine\n\n```\n> not a quote\n```')).toBe(
      '@prbot a > b is fine\n\n```\n> not a quote\n```',
    );
  });
});
