import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Request validation against the vendored subsets of the forges' published API descriptions
 * (packages/test-support/specs/*.subset.json, see the README there). Stricter than the real
 * servers on one point on purpose: an unknown query parameter or body field is refused, because
 * the real forge would silently ignore it and the bug would pass unseen.
 */

interface SpecParam {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: { type?: string; enum?: unknown[]; items?: { type?: string } };
}

interface SpecOp {
  operationId: string;
  parameters: SpecParam[];
  body: { required: boolean; schema: object } | null;
  responses: string[];
  errorSchemas: Record<string, object>;
}

interface Spec {
  kind: 'gitea' | 'github';
  operations: Record<string, SpecOp>;
}

export interface MatchedOp {
  key: string;
  operationId: string;
  path: Record<string, string>;
  query: Record<string, string[]>;
}

/**
 * `bodyOnly`: the operation matched and only the JSON body is wrong. Real servers check the token
 * (Gitea's scope middleware, GitHub's permissions) and the repository state (archived) before they
 * bind the body, so the stand-ins do those checks first for such a request.
 */
export type Validation =
  { ok: true; op: MatchedOp } | { ok: false; status: 400 | 404 | 422; problem: string; bodyOnly?: MatchedOp };

const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;

export function loadSpec(kind: 'gitea' | 'github'): Spec {
  return JSON.parse(readFileSync(new URL(`../specs/${kind}.subset.json`, import.meta.url), 'utf8')) as Spec;
}

/** Closes every object schema that lists its properties: an unknown field is an error here. */
function strict(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(strict);
  if (!s || typeof s !== 'object') return s;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s))
    o[k] =
      k === 'properties'
        ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, strict(pv)]))
        : strict(v);
  if (o.type === 'object' && o.properties && o.additionalProperties === undefined) o.additionalProperties = false;
  // OpenAPI 3.0's nullable is not JSON Schema.
  if (o.nullable === true && typeof o.type === 'string') {
    o.type = [o.type, 'null'];
    delete o.nullable;
  }
  delete o.nullable;
  // GitHub's own formats (repo.nwo …) are not JSON Schema formats.
  if (typeof o.format === 'string' && !['date-time', 'uri', 'email', 'int64', 'int32'].includes(o.format))
    delete o.format;
  return o;
}

export class SpecValidator {
  private readonly ops: {
    key: string;
    method: string;
    re: RegExp;
    names: string[];
    op: SpecOp;
    body?: ValidateFunction;
  }[] = [];

  constructor(readonly spec: Spec) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [key, op] of Object.entries(spec.operations)) {
      const [method, template] = key.split(' ') as [string, string];
      const names: string[] = [];
      // Gitea routes `/pulls/{base}/*`: a head branch may hold slashes.
      const re = new RegExp(
        '^' +
          template.replace(/\{([^}]+)\}/g, (_m, n: string) => {
            names.push(n);
            return n === 'head' && spec.kind === 'gitea' ? '(.+)' : '([^/]+)';
          }) +
          '$',
      );
      this.ops.push({
        key,
        method,
        re,
        names,
        op,
        body: op.body ? ajv.compile(strict(op.body.schema) as object) : undefined,
      });
    }
  }

  /** Checks method, path, query names and values, and the JSON body against the operation. */
  validate(method: string, path: string, search: URLSearchParams, body: unknown, hasBody: boolean): Validation {
    // The most specific template first: Gitea's `/pulls/{base}/{head}` (head may hold slashes) must not
    // swallow `/pulls/{index}/reviews`, as Gitea's router, which tries literal segments first, does not.
    const candidates = this.ops.filter((o) => o.re.test(path)).sort((a, b) => literal(b.key) - literal(a.key));
    if (candidates.length === 0) return { ok: false, status: 404, problem: `no operation at ${path}` };
    const o = candidates.find((c) => c.method === method);
    if (!o) return { ok: false, status: 404, problem: `${method} is not an operation at ${path}` };
    const m = o.re.exec(path)!;
    const pathParams = Object.fromEntries(o.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
    const query: Record<string, string[]> = {};
    for (const [k, v] of search) (query[k] ??= []).push(v);
    for (const p of o.op.parameters) {
      const values = p.in === 'path' ? [pathParams[p.name]!] : p.in === 'query' ? query[p.name] : undefined;
      if (p.in === 'header') continue;
      if (!values || values.length === 0) {
        if (p.required)
          return {
            ok: false,
            status: 422,
            problem: `${o.op.operationId}: missing required ${p.in} parameter "${p.name}"`,
          };
        continue;
      }
      for (const v of values) {
        const bad = checkScalar(p.schema.type === 'array' ? (p.schema.items ?? {}) : p.schema, v);
        if (bad)
          return {
            ok: false,
            status: 422,
            problem: `${o.op.operationId}: ${p.in} parameter "${p.name}"=${JSON.stringify(v)} ${bad}`,
          };
      }
      if (p.schema.type !== 'array' && values.length > 1)
        return {
          ok: false,
          status: 422,
          problem: `${o.op.operationId}: query parameter "${p.name}" given ${values.length} times`,
        };
    }
    const known = new Set(o.op.parameters.filter((p) => p.in === 'query').map((p) => p.name));
    const unknown = Object.keys(query).filter((k) => !known.has(k));
    if (unknown.length)
      return {
        ok: false,
        status: 400,
        problem: `${o.op.operationId}: unknown query parameter(s) ${unknown.join(', ')}`,
      };
    const matched = { key: o.key, operationId: o.op.operationId, path: pathParams, query };
    if (o.op.body) {
      if (!hasBody && o.op.body.required)
        return { ok: false, status: 422, problem: `${o.op.operationId}: a JSON body is required`, bodyOnly: matched };
      if (hasBody && !o.body!(body))
        return {
          ok: false,
          status: 422,
          bodyOnly: matched,
          problem: `${o.op.operationId}: body ${o.body!.errors!.map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : ''}`).join('; ')}`,
        };
    } else if (hasBody) {
      return { ok: false, status: 400, problem: `${o.op.operationId}: takes no body` };
    }
    return { ok: true, op: { key: o.key, operationId: o.op.operationId, path: pathParams, query } };
  }
}

/** How much of an operation's path template is literal text (its specificity). */
function literal(key: string): number {
  return key.split(' ')[1]!.replace(/\{[^}]+\}/g, '').length;
}

function checkScalar(s: { type?: string; enum?: unknown[] }, v: string): string | null {
  if (s.type === 'integer' && !/^-?\d+$/.test(v)) return 'is not an integer';
  if (s.type === 'boolean' && v !== 'true' && v !== 'false') return 'is not a boolean';
  if (s.enum && !s.enum.includes(v)) return `is not one of ${s.enum.join(', ')}`;
  return null;
}
