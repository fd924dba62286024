import { describe, expect, it } from 'vitest';
import { mentions, threadFor } from './revise-requests.ts';

describe('mentions', () => {
  it('matches the handle as a word, any case, and nothing that merely contains it', async () => {
    expect(await mentions('@prbot please fix', '@prbot')).toBe(true);
    expect(await mentions('Hey @PrBot, rename it.', '@prbot')).toBe(true);
    expect(await mentions('(@prbot)', '@prbot')).toBe(true);
    expect(await mentions('@prbot-dev please', '@prbot')).toBe(false);
    expect(await mentions('mail me at me@prbot.example', '@prbot')).toBe(false);
    expect(await mentions('@prbots', '@prbot')).toBe(false);
    expect(await mentions('prbot please', '@prbot')).toBe(false);
    expect(await mentions('@pr.bot', '@pr.bot')).toBe(true);
    expect(await mentions('@prXbot', '@pr.bot')).toBe(false);
  });
});

describe('threadFor', () => {
  const c = (id: number, body: string, kind: 'issue' | 'review' = 'issue') => ({
    id,
    kind,
    author: `u${id}`,
    body,
    createdAt: `2026-01-0${id}`,
  });
  it('keeps the newest comments, newest last, caps each, drops prbot replies and marks the trigger', () => {
    const comments = [
      c(1, 'old'),
      c(2, 'x'.repeat(50)),
      c(3, '<!-- prbot-reply -->\nmine'),
      c(4, '@prbot do it', 'review'),
    ];
    const { thread, omitted } = threadFor(
      comments,
      { threadCap: 2, commentChars: 10 },
      { id: 4, kind: 'review', author: 'u4', body: '@prbot do it' },
    );
    expect(omitted).toBe(1);
    expect(thread.map((t) => [t.author, t.trigger])).toEqual([
      ['u2', false],
      ['u4', true],
    ]);
    expect(thread[0]!.body).toBe(`${'x'.repeat(10)}\n[… 40 more characters cut]`);
  });

  it('a trigger the listing does not show yet (a webhook ahead of the API) is added last', () => {
    const { thread } = threadFor(
      [c(1, 'a')],
      { threadCap: 5, commentChars: 100 },
      { id: 9, kind: 'issue', author: 'z', body: '@prbot now' },
    );
    expect(thread.at(-1)).toMatchObject({ author: 'z', body: '@prbot now', trigger: true });
  });
});
