// The policy's rules without a component: `npm test` (node --test).
// The cases come from ../testdata/cases.json, shared with the other languages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { check, ConfigError, imageRegistry, InputError, parseConfig } from './logic.js';

const CASES = JSON.parse(readFileSync(new URL('../testdata/cases.json', import.meta.url), 'utf8'));
const REGISTRIES = CASES.config.registries;

test('image registries', () => {
  for (const [image, registry] of CASES.images) {
    assert.equal(imageRegistry(image), registry, image);
  }
});

for (const c of CASES.init) {
  test(`config ${c.config}`, () => {
    if (c.ok) {
      assert.deepEqual(parseConfig(c.config), JSON.parse(c.config).registries);
    } else {
      // Every message shows what a good config looks like.
      assert.throws(() => parseConfig(c.config), (e) => e instanceof ConfigError && e.message.includes('{"registries": ['));
    }
  });
}

function objectText(c) {
  if ('objectText' in c) return c.objectText;
  if ('object' in c) return JSON.stringify(c.object);
  return undefined;
}

for (const c of CASES.validate) {
  test(`validate: ${c.name}`, () => {
    const args = [c.kind, c.operation, objectText(c), REGISTRIES];
    if ('error' in c) {
      assert.equal(c.error, 'invalid-input');
      assert.throws(() => check(...args), InputError);
      return;
    }
    const message = check(...args);
    assert.equal(message === null, c.allowed);
    assert.equal(message, c.message);
  });
}

test('config messages', () => {
  assert.throws(() => parseConfig('{}'), /no "registries"/);
  assert.throws(() => parseConfig('{"registries": []}'), /is empty/);
  assert.throws(() => parseConfig('{"registries": [1]}'), /must be a list of strings/);
});

test('input messages', () => {
  assert.throws(() => check('Pod', 'create', undefined, REGISTRIES), { message: 'the CREATE request carries no object' });
  assert.throws(() => check('Pod', 'update', '[]', REGISTRIES), {
    message: 'request.object is not a valid Pod: not a JSON object',
  });
});
