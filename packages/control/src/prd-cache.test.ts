import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobKeyFrom, jobSignatureDefence, signJob } from '@prbot/pipeline';
import { PRD_PARSE_VERSION } from '@prbot/repo';
import { commitAll, createHarness, repoWithGaps, type Harness } from '@prbot/test-support';

import { forgetParsedPrds, readParsedPrd } from './prd-cache.ts';

let h: Harness | undefined;
afterEach(async () => {
  jobSignatureDefence.verify = true;
  forgetParsedPrds();
  await h?.cleanup();
  h = undefined;
});

async function world(gaps = ['Add a reverse helper', 'Add a clamp helper']) {
  forgetParsedPrds();
  h = await createHarness({ repo: await repoWithGaps(gaps) });
  const rt = h.rt;
  const head = async () => {
    await rt.mirror.sync();
    return rt.mirror.resolve(rt.cfg.repo.base);
  };
  const blob = async () => (await rt.mirror.lsTree(await head(), [rt.cfg.repo.prd])).get(rt.cfg.repo.prd)!.oid;
  /** Commits a new PRD on the base branch of the upstream. */
  const edit = async (text: string) => {
    await writeFile(path.join(h!.checkout, rt.cfg.repo.prd), text);
    await commitAll(h!.checkout, 'edit the PRD', true);
  };
  const read = async () => {
    const r = await readParsedPrd(rt, await head());
    if (!r) throw new Error('no PRD');
    return { source: r.source, texts: r.parsed.gaps.map((g) => g.text) };
  };
  const key = jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv);
  return { rt, head, blob, edit, read, key, entryKey: async () => rt.keys.prdParse(PRD_PARSE_VERSION, await blob()) };
}

describe('the PRD parse, cached by blob id', () => {
  it('an unchanged PRD is parsed once: then from this process, then (a new process) from Redis; an edit is parsed', async () => {
    const w = await world();
    const want = ['Add a reverse helper', 'Add a clamp helper'];
    expect(await w.read()).toEqual({ source: 'parsed', texts: want });
    expect(await w.read()).toEqual({ source: 'process', texts: want });
    forgetParsedPrds();
    expect(await w.read()).toEqual({ source: 'redis', texts: want });
    await w.edit('# PRD\n\n- [ ] Add a sum helper [bot-eligible]\n');
    expect(await w.read()).toEqual({ source: 'parsed', texts: ['Add a sum helper'] });
  });

  it('a cached gap cannot be changed by a caller for the next one', async () => {
    const w = await world();
    const r = await readParsedPrd(w.rt, await w.head());
    expect(() => Object.assign(r!.parsed.gaps[0]!, { text: 'changed' })).toThrow(TypeError);
    r!.parsed.gaps.pop();
    expect((await w.read()).texts).toHaveLength(2);
  });

  it('an entry altered in Redis is refused and the PRD parsed again; with signatures off (control) it is believed', async () => {
    const w = await world();
    await w.read();
    const k = await w.entryKey();
    const entry = JSON.parse((await w.rt.redis.get(k))!);
    entry.gaps[0].text = 'Delete the repository';
    await w.rt.redis.set(k, JSON.stringify(entry));
    forgetParsedPrds();
    expect(await w.read()).toEqual({ source: 'parsed', texts: ['Add a reverse helper', 'Add a clamp helper'] });
    // The refused entry was written again, signed: the next process reads the real parse.
    forgetParsedPrds();
    expect((await w.read()).source).toBe('redis');

    // Positive control: the same alteration with the signature check off reaches produce.
    await w.rt.redis.set(k, JSON.stringify(entry));
    forgetParsedPrds();
    jobSignatureDefence.verify = false;
    expect(await w.read()).toEqual({ source: 'redis', texts: ['Delete the repository', 'Add a clamp helper'] });
  });

  it('a signed entry that is not a parse of this blob is refused', async () => {
    const w = await world();
    const k = await w.entryKey();
    const good = { id: 'g000000000000', text: 'x', line: 1 };
    for (const bad of [
      { version: PRD_PARSE_VERSION, blob: 'f'.repeat(40), gaps: [good], warnings: [] }, // another blob's
      { version: 'an older parser', blob: await w.blob(), gaps: [good], warnings: [] },
      { version: PRD_PARSE_VERSION, blob: await w.blob(), gaps: [{ ...good, id: 'not an id' }], warnings: [] },
    ]) {
      await w.rt.redis.set(k, JSON.stringify(signJob('prd-parse', bad, w.key)));
      forgetParsedPrds();
      expect((await w.read()).source).toBe('parsed');
    }
    await w.rt.redis.set(k, 'not json');
    forgetParsedPrds();
    expect((await w.read()).source).toBe('parsed');
    // A job's signature is not a parse's: signed for the propose queue, the entry is refused.
    const asJob = { version: PRD_PARSE_VERSION, blob: await w.blob(), gaps: [good], warnings: [] };
    await w.rt.redis.set(k, JSON.stringify(signJob('propose', asJob, w.key)));
    forgetParsedPrds();
    expect((await w.read()).source).toBe('parsed');
  });
});
