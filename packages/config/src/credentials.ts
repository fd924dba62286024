/**
 * Credentials never sit in the config file: keys and tokens come from environment variables
 * (a provider's `keyEnv`, the forge's `tokenEnv`, REDIS_URL), so the file can be committed, shown
 * in a review, and logged. This checks the file as written (before REDIS_URL is applied: the
 * environment is trusted, the file is not a place for secrets).
 */
export interface CredentialIssue {
  field: string;
  message: string;
}

// Query parameters that carry a credential (`?key=`, `?api_key=`, `?access_token=` …).
const SECRET_PARAM =
  /^(key|api[-_]?key|apikey|token|access[-_]?token|auth|auth[-_]?token|secret|client[-_]?secret|password|passwd|pwd|sig|signature|x-api-key)$/i;
// Header names that carry a credential.
const SECRET_HEADER =
  /authorization|api[-_]?key|token|secret|password|passwd|cookie|credential|(^|-)key($|-)|(^|-)auth($|-)/i;
// Header values that look like a credential whatever the name.
const SECRET_VALUE =
  /^(bearer|basic|token|digest)\s+\S+|\bsk-[A-Za-z0-9_-]{12,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bglpat-[A-Za-z0-9_-]{16,}/i;

const ENV_HINT = 'keys come from environment variables, see README';

/** Why a URL is refused, or null: userinfo (`user:key@`, `token@`) or a credential in the query. */
function urlCredential(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null; // not a URL: the schema says what is wrong with it
  }
  if (u.username || u.password) {
    // ssh://git@host is a user name, not a credential.
    if (u.protocol === 'ssh:' && !u.password) return null;
    return `credentials in the URL (user:password@); ${ENV_HINT}`;
  }
  for (const name of u.searchParams.keys()) {
    if (SECRET_PARAM.test(name)) return `a credential in the URL's query (?${name}=); ${ENV_HINT}`;
  }
  return null;
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function entries(o: unknown): [string, unknown][] {
  return o !== null && typeof o === 'object' && !Array.isArray(o) ? Object.entries(o) : [];
}

/** Every credential written into the config file, each naming its field. */
export function credentialIssues(raw: unknown): CredentialIssue[] {
  const issues: CredentialIssue[] = [];
  const url = (field: string, v: unknown) => {
    if (typeof v !== 'string') return;
    const why = urlCredential(v);
    if (why) issues.push({ field, message: why });
  };
  for (const [name, p] of entries(get(raw, 'models', 'providers'))) {
    url(`models.providers.${name}.baseUrl`, get(p, 'baseUrl'));
    for (const [h, v] of entries(get(p, 'headers'))) {
      if (SECRET_HEADER.test(h) || (typeof v === 'string' && SECRET_VALUE.test(v))) {
        issues.push({
          field: `models.providers.${name}.headers.${h}`,
          message: `a credential in a header; put the key in the environment variable named by keyEnv (${ENV_HINT})`,
        });
      }
    }
  }
  url('observer.url', get(raw, 'observer', 'url'));
  url('repo.url', get(raw, 'repo', 'url'));
  for (const f of ['baseUrl', 'apiUrl', 'remote']) url(`forge.${f}`, get(raw, 'forge', f));
  const redisUrl = get(raw, 'redis', 'url');
  if (typeof redisUrl === 'string' && urlCredential(redisUrl)) {
    issues.push({
      field: 'redis.url',
      message: 'a password in the config file; set REDIS_URL in the environment instead (it may carry the password)',
    });
  }
  const cluster = get(raw, 'redis', 'cluster');
  if (Array.isArray(cluster)) {
    cluster.forEach((c, i) => {
      if (typeof c === 'string' && urlCredential(c))
        issues.push({
          field: `redis.cluster.${i}`,
          message: 'a password in the config file; set REDIS_URL in the environment instead',
        });
    });
  }
  const sentinels = get(raw, 'redis', 'sentinel', 'nodes');
  if (Array.isArray(sentinels)) {
    sentinels.forEach((c, i) => {
      if (typeof c === 'string' && urlCredential(c))
        issues.push({
          field: `redis.sentinel.nodes.${i}`,
          message:
            "a password in the config file; set REDIS_URL in the environment instead (its password is the sentinels' too)",
        });
    });
  }
  return issues;
}

// Field names that look like someone tried to put a credential into the file.
const KEY_LIKE = /key|token|secret|password|passwd|credential|auth/i;

/** The message for an unknown key: a hint where a key-like name shows someone put a secret in the file. */
export function unknownKeyMessage(key: string): string {
  return KEY_LIKE.test(key) ? `unknown key; ${ENV_HINT}` : 'unknown key';
}
