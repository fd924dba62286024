import { describe, expect, it } from 'vitest';
import { pathRefusal, type GuardContext } from './guardrails.ts';

const ctx: GuardContext = { prdPath: 'docs/PRD.md', pauseFile: 'bot.paused', configFile: 'ops/bot.json', extraForbidden: ['vendor/**'] };

describe('pathRefusal', () => {
  it.each([
    ['../outside.txt', /climbs out/],
    ['src/../../etc/passwd', /climbs out/],
    ['/etc/passwd', /absolute/],
    ['/root/.ssh/authorized_keys', /absolute/],
    ['C:/Windows/x', /absolute/],
    ['.git/hooks/pre-commit', /inside \.git/],
    ['sub/.GIT/config', /inside \.git/],
    ['docs/PRD.md', /the PRD itself/],
    ['docs/prd.md', /the PRD itself/],
    ['secrets/prod.env', /secrets path/],
    ['config/Secrets.yaml', /secrets path/],
    ['docs/ADR-0001-queues.md', /decision record/],
    ['docs/DECISIONS.md', /DECISIONS/],
    ['.github/workflows/ci.yml', /CI definition/],
    ['.forgejo/workflows/x.yaml', /CI definition/],
    ['.gitea/workflows/x.yaml', /CI definition/],
    ['crates/a/Cargo.lock', /Cargo\.lock/],
    ['prbot.config.json', /bot's config/],
    ['ops/bot.json', /bot's config/],
    ['bot.paused', /pause file/],
    ['src\\win.ts', /backslash/],
    ['src/a\u0000b', /control/],
    ['src/\u202eevil.ts', /invisible/],
    ['src/./a.ts', /not normalised/],
    ['src//a.ts', /not normalised/],
    ['src/', /not normalised/],
    ['.git./config', /ending in a dot/],
    ['cafe\u0301.ts', /NFC/],
    ['vendor/lib/x.js', /forbidden pattern "vendor\/\*\*"/],
    ['', /non-empty/],
  ])('refuses %j, naming it', (p, why) => {
    const r = pathRefusal(p, ctx);
    expect(r).toMatch(why);
    if (p) expect(r).toContain(JSON.stringify(p).slice(1, 6));
  });

  it.each(['src/truncate.js', 'test/a.test.js', 'docs/guide.md', '.github/CODEOWNERS', 'café.ts'])('allows %j', (p) => {
    expect(pathRefusal(p, ctx)).toBeNull();
  });

  it('refuses non-strings', () => {
    expect(pathRefusal(42, ctx)).toMatch(/non-empty string/);
  });
});
