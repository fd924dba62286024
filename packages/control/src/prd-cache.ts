import { z } from 'zod';
import { gapSchema } from '@prbot/core';
import { jobKeyFrom, jobSignatureRefusal, signJob, type Runtime } from '@prbot/pipeline';
import { parsePrdWithWarnings, PRD_GAP_CAP, PRD_PARSE_VERSION, readPrdBlob, type ParsedPrd } from '@prbot/repo';

/**
 * The PRD's parse, cached by git blob id: a PRD unchanged since the last produce is not parsed
 * again (10,000 gaps are ~1 s of micromark; docs/BENCHMARKS.md). Two layers:
 * - in this process, the last few parses (a worker running scheduled produce jobs);
 * - in Redis, one signed entry per blob for a day (the producer CLI is a new process each run).
 *
 * Redis is not trusted with what becomes a signed job: an entry carries an HMAC under the job key
 * (the same signature a stage hand-over carries; `jobSignatureDefence` switches both) and is
 * validated against its schema when read back. One that fails either is parsed anew, with a
 * warning, and written again.
 */
const KEPT_IN_PROCESS = 4;
const REDIS_TTL_S = 86_400;
/** The signature's domain: a cached parse can never pass for a job of any queue. */
const SIGNED_AS = 'prd-parse';

const entrySchema = z.object({
  version: z.literal(PRD_PARSE_VERSION),
  blob: z.string(),
  gaps: z.array(gapSchema).max(PRD_GAP_CAP),
  warnings: z.array(z.object({ line: z.number().int().positive(), message: z.string().max(1000) })).max(PRD_GAP_CAP),
});

const parsed = new Map<string, ParsedPrd>();

/** Empties the in-process layer (a new process, as far as the cache can tell). */
export function forgetParsedPrds(): void {
  parsed.clear();
}

/** Where a parse came from: a test and the bench can tell a hit from a parse. */
export type PrdParseSource = 'parsed' | 'process' | 'redis';

/**
 * The PRD at `commit` and its gaps, parsed at most once per blob; null when the PRD is absent.
 * Warnings are returned (not logged) every time, so a skipped line is reported by every produce.
 */
export async function readParsedPrd(
  rt: Runtime,
  commit: string,
): Promise<{ text: string; parsed: ParsedPrd; source: PrdParseSource } | null> {
  const read = await readPrdBlob(rt.mirror, commit, rt.cfg.repo.prd);
  if (read === null) return null;
  if (read.blob === null) return { text: read.text, parsed: await parsePrdWithWarnings(read.text), source: 'parsed' };
  const blob = read.blob;
  const id = `${PRD_PARSE_VERSION}:${blob}`;
  const mine = parsed.get(id);
  if (mine) {
    // Most recently used last, so the oldest goes first.
    parsed.delete(id);
    parsed.set(id, mine);
    return { text: read.text, parsed: copy(mine), source: 'process' };
  }
  const key = signingKey(rt);
  const stored = key ? await fromRedis(rt, blob, key) : null;
  const result = stored ?? (await parsePrdWithWarnings(read.text));
  if (!stored && key) await toRedis(rt, blob, result, key);
  remember(id, result);
  return { text: read.text, parsed: copy(result), source: stored ? 'redis' : 'parsed' };
}

function remember(id: string, p: ParsedPrd): void {
  // Frozen: every caller shares these objects, so none may change them for the next.
  for (const g of p.gaps) Object.freeze(g);
  parsed.set(id, p);
  while (parsed.size > KEPT_IN_PROCESS) parsed.delete(parsed.keys().next().value!);
}

function copy(p: ParsedPrd): ParsedPrd {
  return { gaps: [...p.gaps], warnings: [...p.warnings] };
}

/** The job key, or null (no Redis layer) when it is not set: produce itself says so when it enqueues. */
function signingKey(rt: Runtime): Buffer | null {
  try {
    return jobKeyFrom(rt.env, rt.cfg.jobs.keyEnv);
  } catch {
    return null;
  }
}

async function fromRedis(rt: Runtime, blob: string, key: Buffer): Promise<ParsedPrd | null> {
  let raw: string | null;
  try {
    raw = await rt.redis.get(rt.keys.prdParse(PRD_PARSE_VERSION, blob));
  } catch {
    return null; // the cache is an optimisation: Redis trouble means parsing, not failing
  }
  if (raw === null) return null;
  const refused = (why: string) => {
    rt.log.warn(
      { prd: rt.cfg.repo.prd, blob },
      `the cached parse of ${rt.cfg.repo.prd} is refused (${why}): parsed again`,
    );
    return null;
  };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return refused('not JSON');
  }
  const bad = jobSignatureRefusal(SIGNED_AS, data, key);
  if (bad) return refused(bad.replace(/^job signature invalid: the job/, 'its signature: the entry'));
  const entry = entrySchema.safeParse(data);
  if (!entry.success)
    return refused(`not a parse: ${entry.error.issues[0]?.path.join('.')} ${entry.error.issues[0]?.message}`);
  if (entry.data.blob !== blob) return refused(`it is the parse of blob ${entry.data.blob.slice(0, 12)}`);
  return { gaps: entry.data.gaps, warnings: entry.data.warnings };
}

async function toRedis(rt: Runtime, blob: string, p: ParsedPrd, key: Buffer): Promise<void> {
  const entry = signJob(SIGNED_AS, { version: PRD_PARSE_VERSION, blob, gaps: p.gaps, warnings: p.warnings }, key);
  await rt.redis
    .set(rt.keys.prdParse(PRD_PARSE_VERSION, blob), JSON.stringify(entry), 'EX', REDIS_TTL_S)
    .catch((e: Error) =>
      rt.log.warn({ err: e.message }, 'could not cache the PRD parse; the next produce parses again'),
    );
}
