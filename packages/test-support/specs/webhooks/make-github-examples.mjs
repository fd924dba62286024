#!/usr/bin/env node
// Copies GitHub's recorded example deliveries for the events a reviewer uses to ask prbot for a
// revision out of the npm package @octokit/webhooks-examples (api.github.com/index.json, MIT,
// "Example webhook payloads contributed by the community", from github:octokit/webhooks). The
// payloads are kept byte-for-byte as published; tests set only the fields prbot reads. Run by hand:
//
//   npm pack @octokit/webhooks-examples@7.6.1 && tar xzf octokit-webhooks-examples-7.6.1.tgz
//   node make-github-examples.mjs package/api.github.com/index.json
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';

// <event>.<action> → the first example of that action in the package.
const PICK = ['issue_comment.created', 'pull_request_review_comment.created', 'pull_request_review.submitted', 'pull_request.labeled', 'pull_request.closed'];
const all = JSON.parse(readFileSync(process.argv[2], 'utf8'));
mkdirSync('github-examples', { recursive: true });
for (const name of PICK) {
  const [event, action] = name.split('.');
  const example = all.find((e) => e.name === event)?.examples.find((x) => x.action === action);
  if (!example) throw new Error(`no example for ${name}`);
  writeFileSync(`github-examples/${name}.json`, JSON.stringify(example, null, 1) + '\n');
}
