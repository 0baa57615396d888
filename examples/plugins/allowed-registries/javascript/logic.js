// The allowed-registries rules as pure functions.
//
// Nothing here imports the WIT bindings, so `node --test` can check the rules
// without building a component; policy.js is the glue between these functions
// and the WIT interface. The Rust and Python versions of this policy follow
// the same rules and produce the same messages.

// Pod fields that hold containers, in the order they are checked and reported.
export const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'];

const CONFIG_EXAMPLE = '{"registries": ["reg.example.com", "127.0.0.1:5000"]}';

/** The config is unusable; policy.js turns this into the WIT `invalid-input` error. */
export class ConfigError extends Error {}

/** The request is unusable; policy.js turns this into the WIT `invalid-input` error. */
export class InputError extends Error {}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const asString = (v) => (typeof v === 'string' ? v : '');

/** The configured registries, or a ConfigError saying what is wrong. */
export function parseConfig(configJson) {
  let config;
  try {
    config = JSON.parse(configJson);
  } catch (e) {
    throw new ConfigError(`config is not valid JSON (${e.message}); expected e.g. ${CONFIG_EXAMPLE}`);
  }
  if (!isObject(config)) {
    throw new ConfigError(`config must be a JSON object, e.g. ${CONFIG_EXAMPLE}`);
  }
  if (!Object.prototype.hasOwnProperty.call(config, 'registries')) {
    throw new ConfigError(`config has no "registries": list the allowed registries, e.g. ${CONFIG_EXAMPLE}`);
  }
  const registries = config.registries;
  if (!Array.isArray(registries) || !registries.every((r) => typeof r === 'string')) {
    throw new ConfigError(`config "registries" must be a list of strings, e.g. ${CONFIG_EXAMPLE}`);
  }
  if (registries.length === 0) {
    throw new ConfigError(
      `config "registries" is empty, which would deny every pod: list at least one registry, e.g. ${CONFIG_EXAMPLE}`,
    );
  }
  return registries;
}

/** The registry an image reference names, the way Docker reads it. */
export function imageRegistry(image) {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return first;
  return 'docker.io';
}

/** One sentence per container whose image comes from a registry not in `registries`. */
export function podViolations(pod, registries) {
  const spec = isObject(pod) ? pod.spec : undefined;
  if (!isObject(spec)) return [];
  const violations = [];
  for (const field of CONTAINER_FIELDS) {
    const containers = spec[field];
    if (!Array.isArray(containers)) continue;
    for (const container of containers) {
      if (!isObject(container)) continue;
      const name = asString(container.name);
      const image = asString(container.image);
      const registry = imageRegistry(image);
      if (!registries.includes(registry)) {
        violations.push(`container "${name}" uses image "${image}" from registry "${registry}", which is not allowed`);
      }
    }
  }
  return violations;
}

export function denialMessage(violations, registries) {
  return `${violations.join('; ')} (allowed registries: ${registries.join(', ')})`;
}

/**
 * null when the request is allowed, otherwise the denial message.
 *
 * `operation` is the WIT enum case name: create, update, delete or connect.
 * Only Pods being created or updated are checked. A missing object, or one
 * that is not a JSON object, throws InputError.
 */
export function check(kind, operation, objectJson, registries) {
  if (kind !== 'Pod' || (operation !== 'create' && operation !== 'update')) {
    return null;
  }
  if (objectJson == null) {
    throw new InputError(`the ${operation.toUpperCase()} request carries no object`);
  }
  let pod;
  try {
    pod = JSON.parse(objectJson);
  } catch (e) {
    throw new InputError(`request.object is not a valid Pod: ${e.message}`);
  }
  if (!isObject(pod)) {
    throw new InputError('request.object is not a valid Pod: not a JSON object');
  }
  const violations = podViolations(pod, registries);
  if (violations.length === 0) return null;
  return denialMessage(violations, registries);
}
