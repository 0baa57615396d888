#!/usr/bin/env python3
"""Capture real kubectl protobuf request bodies into ../tests/data.

Why: hand-built bytes only prove the decoder agrees with our reading of the
schema; kubectl's own bytes prove it agrees with Go.  kubectl talks plain
HTTP to `--server=http://127.0.0.1:PORT`, so a stub API server on loopback
is enough: it answers discovery, saves each POST body, and replies with a
minimal object.  For every command the JSON oracle is the same command with
`--dry-run=client -o json`, which prints the object kubectl would have sent.

    python3 capture.py [--kubectl kubectl]

Writes kubectl-NAME.pb and kubectl-NAME.json for each command below.
"""
import argparse
import http.server
import json
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'tests', 'data')

# name -> kubectl arguments (flags before any `--` so the dry run sees them).
COMMANDS = {
    'namespace': ['create', 'namespace', 'x'],
    'configmap': ['create', 'configmap', 'cm', '-n', 'default', '--from-literal=k1=v1', '--from-literal=k2=v2'],
    'secret': ['create', 'secret', 'generic', 's1', '-n', 'default', '--from-literal=user=admin',
               '--from-literal=pw=s3cr3t'],
    'deployment': ['create', 'deployment', 'web', '-n', 'default', '--image=nginx:1.27', '--port=80', '--replicas=3'],
    'service': ['create', 'service', 'clusterip', 'svc1', '-n', 'default', '--tcp=80:8080'],
    'job': ['create', 'job', 'j1', '-n', 'default', '--image=busybox', '--', 'echo', 'hi'],
    'cronjob': ['create', 'cronjob', 'cj1', '-n', 'default', '--image=busybox', '--schedule=@hourly', '--', 'date'],
    'role': ['create', 'role', 'r1', '-n', 'default', '--verb=get,list', '--resource=pods'],
    'clusterrolebinding': ['create', 'clusterrolebinding', 'crb1', '--clusterrole=view', '--user=alice'],
    'quota': ['create', 'quota', 'q1', '-n', 'default', '--hard=cpu=2,memory=1Gi,pods=10'],
    'pdb': ['create', 'poddisruptionbudget', 'pdb1', '-n', 'default', '--selector=app=web', '--min-available=50%'],
    'priorityclass': ['create', 'priorityclass', 'pc1', '--value=1000', '--description=high'],
    'ingress': ['create', 'ingress', 'ing1', '-n', 'default', '--rule=foo.com/bar=svc1:80'],
    'serviceaccount': ['create', 'serviceaccount', 'sa1', '-n', 'default'],
}

# group/version -> [(resource, namespaced, kind)] served by the stub's discovery.
RESOURCES = {
    'v1': [('namespaces', False, 'Namespace'), ('pods', True, 'Pod'), ('configmaps', True, 'ConfigMap'), ('secrets', True, 'Secret'),
           ('services', True, 'Service'), ('serviceaccounts', True, 'ServiceAccount'),
           ('resourcequotas', True, 'ResourceQuota')],
    'apps/v1': [('deployments', True, 'Deployment')],
    'batch/v1': [('jobs', True, 'Job'), ('cronjobs', True, 'CronJob')],
    'policy/v1': [('poddisruptionbudgets', True, 'PodDisruptionBudget')],
    'rbac.authorization.k8s.io/v1': [('roles', True, 'Role'), ('clusterrolebindings', False, 'ClusterRoleBinding')],
    'scheduling.k8s.io/v1': [('priorityclasses', False, 'PriorityClass')],
    'networking.k8s.io/v1': [('ingresses', True, 'Ingress')],
}


def discovery(path):
    if path == '/api':
        return {'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': []}
    if path == '/apis':
        groups = []
        for gv in RESOURCES:
            if '/' in gv:
                v = {'groupVersion': gv, 'version': gv.split('/')[1]}
                groups.append({'name': gv.split('/')[0], 'versions': [v], 'preferredVersion': v})
        return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}
    gv = 'v1' if path == '/api/v1' else path[len('/apis/'):] if path.startswith('/apis/') else None
    if gv in RESOURCES:
        return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': gv, 'resources': [
            {'name': n, 'singularName': '', 'namespaced': ns, 'kind': k, 'verbs': ['create', 'get', 'list']}
            for n, ns, k in RESOURCES[gv]]}
    if path == '/version':
        return {'major': '1', 'minor': '37', 'gitVersion': 'v1.37.0'}
    return None


class Stub(http.server.BaseHTTPRequestHandler):
    bodies = []

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        obj = discovery(self.path.split('?')[0])
        if obj is None:
            self.reply(404, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'code': 404})
        else:
            self.reply(200, obj)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        Stub.bodies.append((self.headers.get('Content-Type'), body))
        self.reply(201, {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'stub'}})

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--kubectl', default='kubectl')
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = [args.kubectl, '--server=http://127.0.0.1:%d' % server.server_address[1], '--request-timeout=5s']
    env = dict(os.environ, KUBECONFIG=os.devnull)
    os.makedirs(OUT, exist_ok=True)
    try:
        for name, cmd in COMMANDS.items():
            Stub.bodies.clear()
            run = subprocess.run(base + cmd, env=env, capture_output=True, text=True, timeout=30, check=False)
            if run.returncode != 0:
                sys.exit('%s: kubectl failed: %s' % (name, run.stderr.strip()))
            if len(Stub.bodies) != 1 or Stub.bodies[0][0] != 'application/vnd.kubernetes.protobuf':
                sys.exit('%s: expected one protobuf POST, got %r' % (name, [b[0] for b in Stub.bodies]))
            split = cmd.index('--') if '--' in cmd else len(cmd)
            dry = cmd[:split] + ['--dry-run=client', '-o', 'json'] + cmd[split:]
            out = subprocess.run(base + dry, env=env, check=True, capture_output=True, timeout=30).stdout
            with open(os.path.join(OUT, 'kubectl-%s.pb' % name), 'wb') as f:
                f.write(Stub.bodies[0][1])
            with open(os.path.join(OUT, 'kubectl-%s.json' % name), 'w') as f:
                f.write(json.dumps(json.loads(out), indent=1) + '\n')
            print('captured', name)
    finally:
        server.shutdown()


if __name__ == '__main__':
    main()
