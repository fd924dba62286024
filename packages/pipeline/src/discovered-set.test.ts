import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@prbot/config';
import { createLogger } from '@prbot/core';
import { TEST_REDIS_URL } from '@prbot/test-support';
import { discoveredSetDefence, writeDiscoveredSet } from './discovered-set.ts';
import { keys } from './keys.ts';
import { deleteMatching } from './redis.ts';
import { openRuntime, type Runtime } from './runtime.ts';

let rt: Runtime | undefined;
let dir: string | undefined;
afterEach(async () => {
  discoveredSetDefence.validate = true;
  if (rt) {
    await deleteMatching(rt.redis, `${rt.cfg.redis.prefix}:*`);
    await rt.close();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
  rt = dir = undefined;
});

async function open(): Promise<Runtime> {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-discovered-'));
  const cfg = parseConfig(
    {
      redis: { url: TEST_REDIS_URL, prefix: `{prbot-d${randomBytes(4).toString('hex')}}` },
      models: { providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } }, propose: ['local/m'] },
      workdir: path.join(dir, 'work'),
      repos: [{ name: 'home', url: path.join(dir, 'home.git') }],
      discover: {
        forge: { kind: 'gitea', baseUrl: 'http://git.example', owner: 'team' },
        url: path.join(dir, 'remotes', '{name}.git'),
      },
      log: { level: 'silent' },
    },
    path.join(dir, 'prbot.config.json'),
    {},
  );
  rt = await openRuntime(cfg, { role: 'client', log: createLogger('silent') });
  return rt;
}

const entry = {
  via: 'topic',
  state: 'served',
  firstSeen: '2026-12-01T00:00:00.000Z',
  lastSeen: '2026-12-01T00:00:00.000Z',
};

describe('the discovered set in Redis', () => {
  it('builds views of the entries that stand, and of none that Redis was made to hold (hostile branch, path, alias, not JSON)', async () => {
    const r = await open();
    const k = keys(r.cfg.redis.prefix);
    await writeDiscoveredSet(
      r.redis,
      k,
      new Map([['team-api', { ...entry, forgeRepo: 'api', base: 'main' } as never]]),
    );
    await r.redis.hset(k.discovered(), {
      // A branch that git would read as an option.
      'team-evil': JSON.stringify({ ...entry, forgeRepo: 'evil', base: '--upload-pack=touch /tmp/pwned' }),
      // A name that climbs out of the URL template's directory.
      'team-..': JSON.stringify({ ...entry, forgeRepo: '..', base: 'main' }),
      // An entry filed under another repository's name (its keys, its PRs).
      home2: JSON.stringify({ ...entry, forgeRepo: 'web', base: 'main' }),
      'team-junk': '{not json',
    });
    const views = await r.views();
    expect([...views.keys()]).toEqual(['home', 'team-api']);
    const api = views.get('team-api')!;
    expect(api.repo).toMatchObject({ discovered: true, drained: false, legacy: false });
    expect(api.cfg.repo).toMatchObject({ url: path.join(dir!, 'remotes', 'api.git'), base: 'main' });
    expect(api.cfg.forge).toMatchObject({ kind: 'gitea', owner: 'team', repo: 'api', remote: api.cfg.repo.url });

    // The entry drained: the same view, marked, at the next views().
    await writeDiscoveredSet(
      r.redis,
      k,
      new Map([['team-api', { ...entry, forgeRepo: 'api', base: 'main', state: 'drained' } as never]]),
    );
    expect((await r.views()).get('team-api')!.repo.drained).toBe(true);

    // Its default branch renamed on the forge: the same view and mirror, the new base and a driver for it.
    await writeDiscoveredSet(
      r.redis,
      k,
      new Map([['team-api', { ...entry, forgeRepo: 'api', base: 'trunk' } as never]]),
    );
    const renamed = (await r.views()).get('team-api')!;
    expect(renamed).toBe(api);
    expect(renamed.mirror).toBe(api.mirror);
    expect(renamed.cfg.repo.base).toBe('trunk');
    expect(renamed.repo.drained).toBe(false);
  });

  it('POSITIVE CONTROL: with validation off, the hostile entries become views (an option as the base branch, a path outside the template)', async () => {
    const r = await open();
    const k = keys(r.cfg.redis.prefix);
    await r.redis.hset(k.discovered(), {
      'team-evil': JSON.stringify({ ...entry, forgeRepo: 'evil', base: '--upload-pack=touch /tmp/pwned' }),
      home2: JSON.stringify({ ...entry, forgeRepo: '../../elsewhere', base: 'main' }),
    });
    discoveredSetDefence.validate = false;
    const views = await r.views();
    expect([...views.keys()]).toEqual(['home', 'home2', 'team-evil']);
    expect(views.get('team-evil')!.cfg.repo.base).toBe('--upload-pack=touch /tmp/pwned');
    expect(views.get('home2')!.cfg.repo.url).toBe(`${path.join(dir!, 'remotes')}/../../elsewhere.git`);
  });
});
