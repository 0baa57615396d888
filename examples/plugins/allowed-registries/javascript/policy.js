// allowed-registries in JavaScript: the glue between the WIT world
// `skiff:plugin/admission-policy` and the rules in logic.js.
// `npm run build` turns this module into allowed-registries.wasm.

import { write } from 'skiff:plugin/log@0.1.0';
import { get as getConfig } from 'skiff:plugin/config@0.1.0';

import { check, ConfigError, InputError, parseConfig } from './logic.js';

// A thrown object with `payload` becomes the `error` of the WIT result; any
// other exception traps, which the host treats as a plugin failure.
function invalidInput(message) {
  return { payload: { code: 'invalid-input', message } };
}

function withInvalidInput(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof InputError) throw invalidInput(e.message);
    throw e;
  }
}

// Set by init. The host calls init at the start of every call (each call runs
// in a fresh instance), so this holds for the call at hand.
let configured = null;

// A host that did not call init in this instance still has the config.
function configuredRegistries() {
  return configured ?? withInvalidInput(() => parseConfig(getConfig()));
}

export const admission = {
  init(configJson) {
    const registries = withInvalidInput(() => parseConfig(configJson));
    configured = registries;
    write('debug', `allowed-registries: ${registries.length} allowed registries`, [
      ['registries', registries.join(', ')],
    ]);
  },

  validate(request) {
    const registries = configuredRegistries();
    const message = withInvalidInput(() => check(request.kind.kind, request.operation, request.object, registries));
    if (message === null) {
      return { allowed: true, message: undefined, code: undefined, warnings: [] };
    }
    return { allowed: false, message, code: undefined, warnings: [] };
  },

  mutate(_request) {
    // A validating policy: never changes anything.
    return { change: { tag: 'unchanged' }, allowed: true, message: undefined, warnings: [] };
  },
};
