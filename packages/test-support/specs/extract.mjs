#!/usr/bin/env node
// Extracts the operations prbot calls from a forge's published API description into a small,
// self-contained JSON file (every $ref resolved) that the stand-ins validate requests against.
// Run by hand when the vendored subset is refreshed; tests only read the output (no network).
//
//   node extract.mjs github <api.github.com.json>  > github.subset.json
//   node extract.mjs gitea  <v1_json.tmpl>         > gitea.subset.json
//
// GitHub: descriptions/api.github.com/api.github.com.json of github/rest-api-description
// (also shipped as generated/api.github.com.json in the npm package @octokit/openapi).
// Gitea: templates/swagger/v1_json.tmpl of go-gitea/gitea (the {{…}} placeholders are replaced).
import { readFileSync } from 'node:fs';

const OPS = {
  github: [
    'GET /repos/{owner}/{repo}',
    'GET /repos/{owner}/{repo}/branches/{branch}',
    'GET /repos/{owner}/{repo}/pulls',
    'POST /repos/{owner}/{repo}/pulls',
    'POST /repos/{owner}/{repo}/issues/{issue_number}/labels',
    'GET /user',
    // Revise cycles (issue 17): the PR, its comments, replies, the commenter's permission, the trigger label.
    'GET /repos/{owner}/{repo}/pulls/{pull_number}',
    'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
    'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
    'GET /repos/{owner}/{repo}/pulls/{pull_number}/comments',
    // Review summaries (issue 29): a review's body can be the request.
    'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews',
    // The revise label on poll (issue 29): who put it on.
    'GET /repos/{owner}/{repo}/issues/{issue_number}/events',
    'GET /repos/{owner}/{repo}/collaborators/{username}/permission',
    'DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}',
    'GET /repos/{owner}/{repo}/issues',
    'POST /repos/{owner}/{repo}/issues',
    'GET /repos/{owner}/{repo}/issues/{issue_number}',
    'PATCH /repos/{owner}/{repo}/issues/{issue_number}',
    // Upkeep (issue 25): an unwanted bot PR is closed.
    'PATCH /repos/{owner}/{repo}/pulls/{pull_number}',
    // doctor (issue 27): an organisation's plan decides draft support in its private repositories.
    'GET /orgs/{org}',
    // Discovery (issue 23): an owner's repositories (topics included), and whether one holds .prbot.yaml.
    'GET /orgs/{org}/repos',
    'GET /users/{username}/repos',
    'GET /repos/{owner}/{repo}/contents/{path}',
  ],
  gitea: [
    'GET /version',
    'GET /user',
    'GET /repos/{owner}/{repo}',
    'GET /repos/{owner}/{repo}/branches/{branch}',
    'GET /repos/{owner}/{repo}/pulls',
    'POST /repos/{owner}/{repo}/pulls',
    'GET /repos/{owner}/{repo}/pulls/{index}',
    'GET /repos/{owner}/{repo}/pulls/{base}/{head}',
    'GET /repos/{owner}/{repo}/labels',
    'POST /repos/{owner}/{repo}/labels',
    'GET /orgs/{org}/labels',
    'GET /repos/{owner}/{repo}/issues/{index}/comments',
    'POST /repos/{owner}/{repo}/issues/{index}/comments',
    'GET /repos/{owner}/{repo}/pulls/{index}/reviews',
    'GET /repos/{owner}/{repo}/pulls/{index}/reviews/{id}/comments',
    'GET /repos/{owner}/{repo}/collaborators/{collaborator}/permission',
    'DELETE /repos/{owner}/{repo}/issues/{index}/labels/{id}',
    'GET /repos/{owner}/{repo}/issues',
    'POST /repos/{owner}/{repo}/issues',
    'GET /repos/{owner}/{repo}/issues/{index}',
    'PATCH /repos/{owner}/{repo}/issues/{index}',
    // Upkeep (issue 25): an unwanted bot PR is closed.
    'PATCH /repos/{owner}/{repo}/pulls/{index}',
    // Discovery (issue 23): an owner's repositories (topics included), and whether one holds .prbot.yaml.
    'GET /orgs/{org}/repos',
    'GET /users/{username}/repos',
    'GET /repos/{owner}/{repo}/contents/{filepath}',
  ],
};
const ERROR_CODES = ['400', '403', '404', '409', '410', '422'];

const [kind, file] = process.argv.slice(2);
if (!OPS[kind] || !file) {
  console.error('usage: extract.mjs github|gitea <description file>');
  process.exit(2);
}
const text = readFileSync(file, 'utf8').replace(/"\{\{[^}]*\}\}/g, '"').replace(/\{\{[^}]*\}\}/g, '');
const doc = JSON.parse(text);

/** Inlines every local $ref (the subset must stand alone); a cycle is cut with an open schema. */
function resolve(node, seen = []) {
  if (Array.isArray(node)) return node.map((n) => resolve(n, seen));
  if (!node || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') {
    if (seen.includes(node.$ref)) return {};
    const target = node.$ref.slice(2).split('/').reduce((o, k) => o?.[k.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
    if (target === undefined) throw new Error(`unresolved ${node.$ref}`);
    return resolve(target, [...seen, node.$ref]);
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) if (!['description', 'example', 'examples', 'x-go-name', 'x-go-package', 'x-github', 'x-octokit'].includes(k)) out[k] = resolve(v, seen);
  return out;
}

const operations = {};
for (const key of OPS[kind]) {
  const [method, path] = key.split(' ');
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${key} is not in ${file}`);
  const params = resolve(op.parameters ?? []);
  const parameters = [];
  let body = null;
  for (const p of params) {
    if (p.in === 'body') body = { required: p.required === true, schema: p.schema ?? {} };
    else parameters.push({ name: p.name, in: p.in, required: p.required === true, schema: p.schema ?? { type: p.type, ...(p.enum ? { enum: p.enum } : {}), ...(p.items ? { items: p.items } : {}) } });
  }
  if (op.requestBody) {
    const rb = resolve(op.requestBody);
    body = { required: rb.required === true, schema: rb.content?.['application/json']?.schema ?? {} };
  }
  const responses = {};
  for (const code of ERROR_CODES) {
    const r = op.responses?.[code] && resolve(op.responses[code]);
    if (!r) continue;
    responses[code] = r.content?.['application/json']?.schema ?? r.schema ?? {};
  }
  operations[key] = { operationId: op.operationId, parameters, body, responses: Object.keys(op.responses ?? {}), errorSchemas: responses };
}
process.stdout.write(JSON.stringify({ kind, info: { title: doc.info?.title, version: doc.info?.version, openapi: doc.openapi ?? doc.swagger }, operations }, null, 1) + '\n');
