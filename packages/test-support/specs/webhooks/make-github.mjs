#!/usr/bin/env node
// Makes the GitHub webhook fixtures from GitHub's published webhook descriptions: for each event
// prbot reads, the smallest payload the schema accepts (every required field, nullable ones null,
// first enum value), then the fields prbot reads set to a realistic value. Run by hand:
//
//   node make-github.mjs <api.github.com.json of @octokit/openapi-webhooks> > /dev/null
//
// Source: the npm package @octokit/openapi-webhooks 12.1.0, generated/api.github.com.json
// ("GitHub's official Webhooks OpenAPI spec", from github/rest-api-description). It writes
// github-webhooks.subset.json (the resolved schemas, which the tests validate the fixtures
// against) and github/<event>.json.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';

const EVENTS = ['ping', 'issue-comment-created', 'pull-request-review-comment-created', 'pull-request-labeled', 'pull-request-closed', 'issues-edited', 'push'];
const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function resolve(node, seen = []) {
  if (Array.isArray(node)) return node.map((n) => resolve(n, seen));
  if (!node || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') {
    if (seen.includes(node.$ref)) return {};
    return resolve(node.$ref.slice(2).split('/').reduce((o, k) => o[k], doc), [...seen, node.$ref]);
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) if (!['description', 'examples', 'example', 'title'].includes(k)) out[k] = resolve(v, seen);
  return out;
}

function minimal(s) {
  if (!s || typeof s !== 'object') return null;
  if (s.allOf) return Object.assign({}, ...s.allOf.map(minimal));
  const alt = s.oneOf ?? s.anyOf;
  if (alt) return minimal(alt.find((a) => a.type !== 'null') ?? alt[0]);
  if (s.nullable) return null;
  const type = Array.isArray(s.type) ? (s.type.includes('null') ? 'null' : s.type[0]) : s.type;
  if (s.enum) return s.enum[0];
  switch (type) {
    case 'null':
      return null;
    case 'object': {
      const o = {};
      for (const k of s.required ?? []) o[k] = minimal(s.properties?.[k] ?? {});
      return o;
    }
    case 'array':
      return [];
    case 'string':
      return s.format === 'date-time' ? '2026-11-29T12:00:00Z' : s.format === 'uri' ? 'https://github.example/team/app' : 'x';
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return false;
    default:
      return s.properties ? minimal({ ...s, type: 'object' }) : null;
  }
}

const schemas = {};
mkdirSync('github', { recursive: true });
for (const e of EVENTS) {
  const schema = resolve(doc.webhooks[e].post.requestBody.content['application/json'].schema);
  schemas[e] = schema;
  writeFileSync(`github/${e}.json`, JSON.stringify(minimal(schema), null, 1) + '\n');
}
writeFileSync('github-webhooks.subset.json', JSON.stringify({ source: '@octokit/openapi-webhooks 12.1.0 generated/api.github.com.json', schemas }) + '\n');
