import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capitalize, slugify } from '../src/strings.js';

test('capitalize upper-cases the first letter', () => {
  assert.equal(capitalize('hello'), 'Hello');
});

test('capitalize keeps the empty string', () => {
  assert.equal(capitalize(''), '');
});

test('slugify joins words with dashes', () => {
  assert.equal(slugify('Hello, World!'), 'hello-world');
});
