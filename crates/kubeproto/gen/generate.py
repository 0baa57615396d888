#!/usr/bin/env python3
"""Generate ../src/schema.txt: the Kubernetes protobuf wire schema with JSON names.

Three sources, each giving what the others lack:

* k8s-pb (prost bindings): message names, field numbers, wire types, labels
  (optional / repeated / map) and the message type of every message field.
* k8s-openapi (v1_37): the exact JSON property names (prost snake-cases them,
  so `volumeID` arrives as `volume_id`) and which properties are required.
* Go facts from a kubectl binary (gofacts.py), or the committed snapshot
  go_facts.txt: which fields are Go pointers, which JSON tags say `omitempty`,
  and which embedded structs are `,inline`.  The Kubernetes marshaller writes
  every non-pointer scalar even when zero, so a decoder must know which zero
  values Go's JSON encoder would have dropped.

The script only reads those sources and writes facts about the wire format; no
code from them ends up in this repository.  See README.md for how to run it.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_OUT = os.path.join(HERE, '..', 'src', 'schema.txt')
FACTS_SNAPSHOT = os.path.join(HERE, 'go_facts.txt')

META = 'apimachinery/pkg/apis/meta/v1'

# Messages whose Go type marshals JSON by hand; the runtime knows each shape.
# The expected wire fields are checked against k8s-pb below.
SPECIAL = {
    (META, 'Time'): ('time', {1: 'int64', 2: 'int32'}),
    (META, 'MicroTime'): ('microtime', {1: 'int64', 2: 'int32'}),
    (META, 'Duration'): ('duration', {1: 'int64'}),
    (META, 'FieldsV1'): ('rawjson', {1: 'bytes'}),
    ('apimachinery/pkg/runtime', 'RawExtension'): ('rawjson', {1: 'bytes'}),
    ('apimachinery/pkg/api/resource', 'Quantity'): ('quantity', {1: 'string'}),
    ('apimachinery/pkg/util/intstr', 'IntOrString'): ('intorstring', {1: 'int64', 2: 'int32', 3: 'string'}),
}
SCALARS = {'bool', 'int32', 'int64', 'double', 'string', 'bytes'}

# The objects skiff must read from kubectl: the brief's list plus what
# kubectl's typed `create`, `autoscale`, `drain` and `create token` send.
ROOTS = [
    ('api/core/v1', n) for n in (
        'Namespace', 'Pod', 'Node', 'Service', 'Endpoints', 'ConfigMap', 'Secret', 'Event',
        'ServiceAccount', 'PersistentVolume', 'PersistentVolumeClaim', 'Binding',
        'ResourceQuota', 'LimitRange', 'ReplicationController', 'PodTemplate')
] + [
    ('api/apps/v1', n) for n in ('Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'ControllerRevision')
] + [
    ('api/batch/v1', 'Job'), ('api/batch/v1', 'CronJob'),
    ('api/networking/v1', 'Ingress'), ('api/networking/v1', 'NetworkPolicy'),
    ('api/networking/v1', 'IngressClass'),
    ('api/storage/v1', 'StorageClass'),
    ('api/rbac/v1', 'Role'), ('api/rbac/v1', 'RoleBinding'),
    ('api/rbac/v1', 'ClusterRole'), ('api/rbac/v1', 'ClusterRoleBinding'),
    ('api/coordination/v1', 'Lease'),
    ('api/discovery/v1', 'EndpointSlice'),
    ('api/autoscaling/v1', 'Scale'), ('api/autoscaling/v1', 'HorizontalPodAutoscaler'),
    ('api/autoscaling/v2', 'HorizontalPodAutoscaler'),
    ('api/policy/v1', 'PodDisruptionBudget'), ('api/policy/v1', 'Eviction'),
    ('api/scheduling/v1', 'PriorityClass'),
    ('api/authentication/v1', 'TokenRequest'),
    ('api/events/v1', 'Event'),
    (META, 'DeleteOptions'), (META, 'Status'), (META, 'WatchEvent'),
]
# Not Resources in k8s-pb, so their apiVersion is given here.
EXTRA_API_VERSION = {
    ('api/autoscaling/v1', 'Scale'): 'autoscaling/v1',
    ('api/policy/v1', 'Eviction'): 'policy/v1',
    ('api/authentication/v1', 'TokenRequest'): 'authentication.k8s.io/v1',
    ('api/core/v1', 'Binding'): 'v1',
    (META, 'Status'): 'v1',
}
# metav1 registers these in every group version, so kind alone picks them.
ANY_VERSION_KINDS = [(META, 'DeleteOptions'), (META, 'Status'), (META, 'WatchEvent')]


def norm(name):
    return name.replace('_', '').lower()


DISPLAY = {}  # (module, k8s-pb name) -> Go spelling of the type name


def short(key):
    """Compact, unique message name: core.v1.Pod, meta.v1.ObjectMeta."""
    mod, name = key
    name = DISPLAY.get(key, name)
    mod = re.sub(r'^(api|apimachinery/pkg/apis|apimachinery/pkg)/', '', mod)
    return mod.replace('/', '.') + '.' + name


# ---------------------------------------------------------------- k8s-pb

STD_WRAPPERS = ('::core::option::Option<', '::prost::alloc::boxed::Box<', '::prost::alloc::vec::Vec<',
                '::prost::alloc::collections::BTreeMap<', '::prost::alloc::string::String,')


def resolve(mod, path):
    parts = path.split('::')
    here = mod.split('/')
    while parts and parts[0] == 'super':
        parts.pop(0)
        here.pop()
    return ('/'.join(here + parts[:-1]), parts[-1])


def parse_pb(src):
    messages, resources = {}, {}
    for path in sorted(glob.glob(os.path.join(src, '**', 'mod.rs'), recursive=True)):
        mod = os.path.relpath(os.path.dirname(path), src).replace(os.sep, '/')
        with open(path) as f:
            lines = f.read().split('\n')
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r'pub struct (\w+) \{$', line)
            if m:
                body = []
                i += 1
                while lines[i] != '}':
                    s = lines[i].strip()
                    if not s.startswith('//'):
                        body.append(s)
                    i += 1
                messages[(mod, m.group(1))] = parse_fields(mod, ' '.join(body))
            m = re.match(r'impl crate::Resource for (\w+) \{$', line)
            if m:
                block = ' '.join(lines[i:i + 8])
                av = re.search(r'API_VERSION: &\'static str = "([^"]*)"', block).group(1)
                kind = re.search(r'KIND: &\'static str = "([^"]*)"', block).group(1)
                resources[(mod, m.group(1))] = (av, kind)
            i += 1
    return messages, resources


def parse_fields(mod, body):
    fields = []
    for chunk in body.split('#[prost(')[1:]:
        m = re.match(r'(.*?)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),?\s*$', chunk)
        if not m:
            raise SystemExit('cannot parse prost field in %s: %r' % (mod, chunk[:120]))
        attrs, snake, rtype = m.groups()
        tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
        mm = re.match(r'btree_map = "string, (\w+)"', attrs)
        if mm:
            card, kind = 'map', mm.group(1)
        else:
            kind = attrs.split(',')[0].split('=')[0].strip()
            card = 'repeated' if re.search(r'\brepeated\b', attrs) else 'optional'
        target = None
        if kind == 'message':
            t = rtype.replace(' ', '')
            for w in STD_WRAPPERS:
                t = t.replace(w, '')
            target = resolve(mod, t.replace('>', '').strip(','))
        elif kind not in SCALARS:
            raise SystemExit('unknown prost kind %r in %s' % (kind, mod))
        fields.append({'num': tag, 'snake': snake, 'kind': kind, 'card': card, 'target': target})
    return fields


# ---------------------------------------------------------------- k8s-openapi

def parse_openapi(src):
    defs = {}
    for path in glob.glob(os.path.join(src, '**', '*.rs'), recursive=True):
        with open(path) as f:
            text = f.read()
        m = re.match(r'// Generated from definition (\S+)', text)
        if not m:
            continue
        props = re.findall(r'"([^"]+)" => Field::Key_', text)
        required = set(re.findall(r'serialize_field\(&mut state, "([^"]+)", &self\.', text))
        parts = m.group(1).split('.')
        # io.k8s.api.apps.v1.Deployment -> ('api/apps/v1', 'deployment')
        key = ('/'.join(p.replace('-', '_') for p in parts[2:-1]), parts[-1].lower())
        defs[key] = {'name': m.group(1), 'props': props, 'required': required}
    return defs


# ---------------------------------------------------------------- Go facts

def go_facts_from_binary(path):
    sys.path.insert(0, HERE)
    import gofacts
    facts = {}
    for pkg, tname, num, json_name, flags, _gotype in gofacts.extract(path):
        mod = pkg[len('k8s.io/'):].replace('-', '_')
        facts.setdefault((mod, tname.lower()), {})[num] = (json_name, flags)
    return facts


def load_snapshot(path):
    facts = {}
    with open(path) as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            key, *cols = line.split()
            mod, _, tname = key.rpartition('.')
            entry = facts.setdefault((mod, tname.lower()), {})
            for c in cols:
                num, json_name, flags = c.split(':')
                entry[int(num)] = (json_name, flags)
    return facts


def write_snapshot(path, facts, keys, source):
    with open(path, 'w') as f:
        f.write('# Go struct facts per message: number:jsonName:flags (o omitempty, p pointer, i inline).\n')
        f.write('# Extracted by gofacts.py from %s; regenerate with generate.py --kubectl.\n' % source)
        for key in sorted(keys):
            entry = facts.get((key[0], key[1].lower()))
            if entry:
                cols = ' '.join('%d:%s:%s' % (n, j, fl) for n, (j, fl) in sorted(entry.items()))
                f.write('%s.%s %s\n' % (key[0], key[1], cols))


# ---------------------------------------------------------------- schema

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--k8s-pb', required=True, help='k8s-pb-0.9.0/src directory')
    ap.add_argument('--k8s-openapi', required=True, help='k8s-openapi-0.29.0/src/v1_37 directory')
    ap.add_argument('--kubectl', help='kubectl binary to read Go facts from (refreshes go_facts.txt)')
    ap.add_argument('--out', default=SCHEMA_OUT)
    args = ap.parse_args()

    messages, resources = parse_pb(args.k8s_pb)
    defs = parse_openapi(args.k8s_openapi)
    if args.kubectl:
        facts = go_facts_from_binary(args.kubectl)
        run = subprocess.run([args.kubectl, 'version', '--client'], capture_output=True, text=True, check=False)
        ver = run.stdout.split('\n')[0].strip()
        facts_source = '%s (%s)' % (os.path.basename(args.kubectl), ver or 'version unknown')
    else:
        facts = load_snapshot(FACTS_SNAPSHOT)
        facts_source = None
    by_lower = {(mod, name.lower()): (mod, name) for mod, name in messages}
    # prost renames HTTPGetAction to HttpGetAction; keep the Kubernetes spelling.
    for (mod, lower), d in defs.items():
        if (mod, lower) in by_lower:
            DISPLAY[by_lower[(mod, lower)]] = d['name'].split('.')[-1]

    def canon(key):
        found = by_lower.get((key[0], key[1].lower()))
        if not found:
            raise SystemExit('message %s/%s not in k8s-pb' % key)
        return found

    for key, (_, wire) in SPECIAL.items():
        got = {f['num']: f['kind'] for f in messages[canon(key)]}
        if got != wire:
            raise SystemExit('special message %s changed shape: %s' % (key, got))

    def reach(skip):
        order, seen, stack = [], set(), list(reversed(roots))
        while stack:
            key = stack.pop()
            if key in seen or key in SPECIAL:
                continue
            seen.add(key)
            order.append(key)
            for f in messages[key]:
                if f['target'] and not skip(key, f):
                    stack.append(canon(f['target']))
        return order

    def inline_of(key, f):
        go = facts.get((key[0], key[1].lower()), {}).get(f['num'])
        return bool(go and 'i' in go[1])

    # Pass 1 finds which messages are inlined into which parents: their JSON
    # names live in the parent's OpenAPI definition.
    roots = [canon(r) for r in ROOTS]
    inline_parents = {}
    for key in reach(lambda k, f: False):
        for f in messages[key]:
            if f['target'] and inline_of(key, f):
                inline_parents.setdefault(canon(f['target']), []).append(key)

    def props_for(key):
        d = defs.get((key[0], key[1].lower()))
        props, required = (list(d['props']), set(d['required'])) if d else ([], set())
        for parent in inline_parents.get(key, []):
            pp, pr = props_for(parent)
            props += pp
            required |= pr
        return props, required

    problems = []

    def json_name(key, f):
        """JSON name of a field, '-' when inline, None when Kubernetes 1.37 has no such field."""
        if inline_of(key, f):
            return '-'
        props, _ = props_for(key)
        name = next((p for p in props if norm(p) == norm(f['snake'])), None)
        go = facts.get((key[0], key[1].lower()), {}).get(f['num'])
        if go and name and go[0] != name:
            problems.append('%s field %d: OpenAPI says %s, Go says %s' % (short(key), f['num'], name, go[0]))
        if name is None and go and (key[0], key[1].lower()) not in defs:
            name = go[0]  # no OpenAPI definition at all; Go's tag is exact
        return name

    # Pass 2: fields k8s-pb (Kubernetes 1.35) has but 1.37's OpenAPI lacks
    # were alpha and are gone; kubectl 1.37 cannot send them.
    dropped = []

    def gone(key, f):
        return json_name(key, f) is None

    order = reach(gone)
    # Lists of the root resources, so the server can answer lists later.
    for r in roots:
        lst = by_lower.get((r[0], r[1].lower() + 'list'))
        if lst and r in resources and lst not in order:
            order.append(lst)

    out_msgs, no_facts = [], 0
    for key in sorted(order, key=short):
        _, required = props_for(key)
        gf = facts.get((key[0], key[1].lower()), {})
        lines = []
        for f in sorted(messages[key], key=lambda f: f['num']):
            name = json_name(key, f)
            if name is None:
                dropped.append('%s %d %s' % (short(key), f['num'], f['snake']))
                continue
            go = gf.get(f['num'])
            if f['target']:
                tk = canon(f['target'])
                ty = SPECIAL[tk][0] if tk in SPECIAL else short(tk)
            else:
                ty = f['kind']
            flags = {'optional': '', 'repeated': '*', 'map': '{}'}[f['card']]
            if f['card'] == 'optional' and f['kind'] in SCALARS:
                if go:
                    omit_zero = 'o' in go[1] and 'p' not in go[1]
                else:
                    # Field newer than the kubectl the facts came from.  Go's
                    # JSON keeps zeros only for required fields or pointers;
                    # Kubernetes treats a zero non-pointer as unset anyway, so
                    # dropping zeros of optional fields is the safer guess.
                    no_facts += 1
                    omit_zero = name not in required
                if omit_zero:
                    flags += 'z'
            lines.append('%d %s %s%s' % (f['num'], name, ty, (' ' + flags) if flags else ''))
        out_msgs.append((short(key), lines))
    if problems:
        raise SystemExit('schema problems:\n  ' + '\n  '.join(sorted(set(problems))))
    for d in sorted(set(dropped)):
        print('dropped (not in Kubernetes 1.37): ' + d, file=sys.stderr)
    # The other direction: 1.37 fields k8s-pb (1.35) has no number for.  The
    # decoder skips them as unknown tags, so they are worth knowing about.
    for key in sorted(order, key=short):
        d = defs.get((key[0], key[1].lower()))
        if not d:
            continue
        have = {norm(f['snake']) for f in messages[key]}
        for c in messages[key]:
            if c['target'] and inline_of(key, c):
                have |= {norm(p) for p in props_for(canon(c['target']))[0]}
        for p in d['props']:
            if norm(p) not in have and p not in ('apiVersion', 'kind'):
                print('no wire field (newer than k8s-pb): %s.%s' % (short(key), p), file=sys.stderr)

    names = [short(k) for k in order]
    if len(set(names)) != len(names):
        raise SystemExit('short message names collide')

    root_lines = []
    for key in order:
        if key in ANY_VERSION_KINDS:
            root_lines.append('kind %s %s' % (key[1], short(key)))
        av_kind = resources.get(key)
        if av_kind is None and key in EXTRA_API_VERSION:
            av_kind = (EXTRA_API_VERSION[key], key[1])
        if av_kind is None and key[1].endswith('List'):
            base = resources.get((key[0], key[1][:-4]))
            if base:
                av_kind = (base[0], key[1])
        if av_kind:
            root_lines.append('root %s %s %s' % (av_kind[0], av_kind[1], short(key)))

    with open(args.out, 'w') as f:
        f.write('# Kubernetes protobuf wire schema with JSON names. Generated by gen/generate.py; do not edit.\n')
        f.write('# Sources: k8s-pb 0.9.0 (wire), k8s-openapi 0.29.0 v1_37 (JSON names), Go facts (go_facts.txt).\n')
        f.write('# root APIVERSION KIND MESSAGE | kind KIND MESSAGE (any apiVersion)\n')
        f.write('# message NAME, then fields: NUMBER JSON_NAME TYPE [FLAGS]; JSON_NAME "-" = inline,\n')
        f.write('# FLAGS: * repeated, {} map (string keys), z zero value means absent (Go omitempty, non-pointer).\n')
        for line in sorted(root_lines):
            f.write(line + '\n')
        for name, lines in out_msgs:
            f.write('message %s\n' % name)
            for line in lines:
                f.write(' ' + line + '\n')

    if facts_source:
        write_snapshot(FACTS_SNAPSHOT, facts, order, facts_source)
    print('%d messages, %d fields, %d roots, %d scalar fields without Go facts'
          % (len(out_msgs), sum(len(l) for _, l in out_msgs), len(root_lines), no_facts), file=sys.stderr)


if __name__ == '__main__':
    main()
