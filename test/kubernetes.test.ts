// deploy/kubernetes checked offline: the example overlay rendered as kustomize would (test/kustomize.ts),
// after the documented step of copying secrets/*.env.example to secrets/*.env; every object
// validated against the Kubernetes OpenAPI schemas (npm kubernetes-models) and KEDA's CRD schemas
// (@kubernetes-models/keda); then the references Kubernetes resolves at run time (Secrets,
// ConfigMaps, selectors, probe ports, scale targets) and prbot's own rules: Secrets by role,
// the grace period above the worker's shutdown, the sandbox's securityContext, the config parses
// and the ScaledObjects read /api/backlog at the dashboard's address.
import { readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@prbot/config';
import { REPO_ROOT } from '@prbot/test-support';
import { FORCE_WAIT_MS } from '../apps/worker/src/workers.ts';
import { exampleWorkspace, podSpecs, readDocs, render, KustomizeError, type Doc } from './kustomize.ts';

const SOURCE = path.join(REPO_ROOT, 'deploy', 'kubernetes');
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function workspace(edit?: (dir: string) => void): string {
  const dir = exampleWorkspace(SOURCE, edit);
  temps.push(dir);
  return dir;
}
const renderExample = (edit?: (dir: string) => void) => render(path.join(workspace(edit), 'overlays', 'example'));

type Model = { new (data: unknown): { validate(): void } };
/** apiVersion/kind → its schema class, loaded from the two packages. */
async function models(): Promise<Map<string, Model>> {
  const m = new Map<string, Model>();
  const groups: [string, Promise<Record<string, unknown>>][] = [
    ['v1', import('kubernetes-models/v1')],
    ['apps/v1', import('kubernetes-models/apps/v1')],
    ['batch/v1', import('kubernetes-models/batch/v1')],
    ['policy/v1', import('kubernetes-models/policy/v1')],
    ['networking.k8s.io/v1', import('kubernetes-models/networking.k8s.io/v1')],
    ['keda.sh/v1alpha1', import('@kubernetes-models/keda/keda.sh/v1alpha1')],
  ];
  for (const [apiVersion, mod] of groups)
    for (const [kind, cls] of Object.entries(await mod))
      if (typeof cls === 'function') m.set(`${apiVersion}/${kind}`, cls as Model);
  return m;
}

/** Schema errors of every object, as lines; an object of a kind no schema covers is an error too. */
async function schemaErrors(docs: Doc[]): Promise<string[]> {
  const m = await models();
  const out: string[] = [];
  for (const d of docs) {
    const Cls = m.get(`${d.apiVersion}/${d.kind}`);
    if (!Cls) {
      out.push(`${d.apiVersion} ${d.kind} ${d.metadata?.name}: no schema for this kind`);
      continue;
    }
    try {
      new Cls(d).validate();
    } catch (err) {
      out.push(`${d.kind}/${d.metadata.name}: ${(err as Error).message}`);
    }
  }
  return out;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** References Kubernetes resolves when it runs the objects, as lines naming what is missing. */
function referenceErrors(docs: Doc[]): string[] {
  const out: string[] = [];
  const has = (kind: string, name: string) => docs.some((d) => d.kind === kind && d.metadata.name === name);
  const workloads = docs.filter((d) => podSpecs(d).length);
  for (const w of workloads) {
    const spec = podSpecs(w)[0];
    const tmplLabels =
      w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template.metadata?.labels : w.spec.template.metadata?.labels;
    if (w.spec.selector && !matches(w.spec.selector.matchLabels, tmplLabels))
      out.push(`${w.kind}/${w.metadata.name}: selector does not match its pod labels`);
    for (const v of spec.volumes ?? []) {
      if (v.configMap && !has('ConfigMap', v.configMap.name))
        out.push(
          `${w.kind}/${w.metadata.name}: volume ${v.name} names ConfigMap ${v.configMap.name}, which is not rendered`,
        );
      if (v.secret && !has('Secret', v.secret.secretName))
        out.push(
          `${w.kind}/${w.metadata.name}: volume ${v.name} names Secret ${v.secret.secretName}, which is not rendered`,
        );
    }
    for (const c of spec.containers) {
      for (const e of c.envFrom ?? [])
        if (e.secretRef && !has('Secret', e.secretRef.name))
          out.push(`${w.kind}/${w.metadata.name}: envFrom names Secret ${e.secretRef.name}, which is not rendered`);
      for (const m of c.volumeMounts ?? [])
        if (!(spec.volumes ?? []).some((v: { name: string }) => v.name === m.name))
          out.push(`${w.kind}/${w.metadata.name}: mounts volume ${m.name}, which the pod lacks`);
      for (const probe of [c.livenessProbe, c.readinessProbe].filter(Boolean)) {
        const port = probe.httpGet?.port;
        if (typeof port === 'string' && !(c.ports ?? []).some((p: { name: string }) => p.name === port))
          out.push(`${w.kind}/${w.metadata.name}: a probe uses port ${port}, which the container does not name`);
      }
    }
  }
  for (const d of docs) {
    if (d.kind === 'PodDisruptionBudget' || d.kind === 'Service' || d.kind === 'NetworkPolicy') {
      const sel =
        d.kind === 'Service'
          ? d.spec.selector
          : d.kind === 'NetworkPolicy'
            ? d.spec.podSelector.matchLabels
            : d.spec.selector.matchLabels;
      const hit = workloads.filter((w) => w.kind === 'Deployment' && matches(sel, w.spec.template.metadata.labels));
      if (hit.length !== 1) out.push(`${d.kind}/${d.metadata.name}: selects ${hit.length} Deployments, not 1`);
    }
    if (d.kind === 'ScaledObject') {
      if (!has('Deployment', d.spec.scaleTargetRef.name))
        out.push(`ScaledObject/${d.metadata.name}: scale target ${d.spec.scaleTargetRef.name} is not rendered`);
      for (const t of d.spec.triggers)
        if (t.authenticationRef && !has('TriggerAuthentication', t.authenticationRef.name))
          out.push(
            `ScaledObject/${d.metadata.name}: TriggerAuthentication ${t.authenticationRef.name} is not rendered`,
          );
    }
    if (d.kind === 'TriggerAuthentication') {
      for (const r of d.spec.secretTargetRef ?? []) {
        const s = docs.find((x) => x.kind === 'Secret' && x.metadata.name === r.name);
        if (!s?.data?.[r.key])
          out.push(`TriggerAuthentication/${d.metadata.name}: Secret ${r.name} has no key ${r.key}`);
      }
    }
  }
  return out;
}

const byName = (docs: Doc[], kind: string, prefix: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === prefix) ??
  docs.find((d) => d.kind === kind && d.metadata.name.startsWith(`${prefix}-`))!;
/** The role's environment variables: the keys of every Secret its pods take (envFrom). */
function secretKeys(docs: Doc[], w: Doc): string[] {
  return podSpecs(w)[0]
    .containers.flatMap((c: any) =>
      (c.envFrom ?? []).flatMap((e: any) =>
        Object.keys(docs.find((d) => d.kind === 'Secret' && d.metadata.name === e.secretRef?.name)?.data ?? {}),
      ),
    )
    .sort();
}

describe('deploy/kubernetes', () => {
  const docs = renderExample();
  const config = byName(docs, 'ConfigMap', 'prbot-config');
  const cfg = parseConfig(YAML.parse(config.data['prbot.config.yaml']), '/config/prbot.config.yaml', {});

  it('the example overlay renders, and every object is valid against the Kubernetes and KEDA schemas', async () => {
    const kinds = docs.map((d) => `${d.kind}/${d.metadata.name.replace(/-[0-9a-f]{10}$/, '')}`).sort();
    expect(kinds).toEqual(
      [
        'ConfigMap/prbot-config',
        'CronJob/prbot-produce',
        'Deployment/prbot-dashboard',
        'Deployment/prbot-worker-apply',
        'Deployment/prbot-worker-events',
        'Deployment/prbot-worker-pr',
        'Deployment/prbot-worker-propose',
        'Deployment/prbot-worker-test',
        'Namespace/prbot',
        'NetworkPolicy/prbot-worker-test',
        'NetworkPolicy/prbot-worker-test-registry',
        ...[
          'prbot-dashboard',
          'prbot-worker-apply',
          'prbot-worker-events',
          'prbot-worker-pr',
          'prbot-worker-propose',
          'prbot-worker-test',
        ].map((n) => `PodDisruptionBudget/${n}`),
        'ScaledObject/prbot-worker-propose',
        'ScaledObject/prbot-worker-test',
        ...[
          'prbot-dashboard-auth',
          'prbot-forge-token',
          'prbot-job-key',
          'prbot-model-keys',
          'prbot-redis-dashboard',
          'prbot-redis-producer',
          'prbot-redis-worker',
          'prbot-webhook',
        ].map((n) => `Secret/${n}`),
        'Service/prbot-dashboard',
        'TriggerAuthentication/prbot-dashboard-basic-auth',
      ].sort(),
    );
    expect(await schemaErrors(docs)).toEqual([]);
    // Every YAML file in deploy/kubernetes on its own too (the base and the component).
    const files = ['base', 'components/registry-during-setup'].flatMap((d) =>
      readdirSync(path.join(SOURCE, d))
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .map((f) => path.join(SOURCE, d, f)),
    );
    expect(await schemaErrors(files.flatMap(readDocs))).toEqual([]);
    for (const d of docs)
      if (d.kind !== 'Namespace') expect(d.metadata.namespace, `${d.kind}/${d.metadata.name}`).toBe('prbot');
  });

  it('every Secret, ConfigMap, selector, probe port, scale target and trigger authentication resolves', () => {
    expect(referenceErrors(docs)).toEqual([]);
    for (const w of docs.filter((d) => podSpecs(d).length))
      for (const c of podSpecs(w)[0].containers)
        expect(c.image, w.metadata.name).toBe('registry.example.com/team/prbot:1.0.0');
  });

  it('the schema and reference checks can fail: a wrong type, an unknown Secret, a misspelt selector, an unknown kustomize field', async () => {
    const bad = structuredClone(docs);
    byName(bad, 'Deployment', 'prbot-worker-pr').spec.replicas = 'two';
    byName(bad, 'ScaledObject', 'prbot-worker-test').spec.minReplicaCount = '0';
    const errors = await schemaErrors(bad);
    expect(
      errors.some((e) => e.startsWith('Deployment/prbot-worker-pr:') && e.includes('replicas must be integer')),
    ).toBe(true);
    expect(
      errors.some(
        (e) => e.startsWith('ScaledObject/prbot-worker-test:') && e.includes('minReplicaCount must be integer'),
      ),
    ).toBe(true);
    const dangling = renderExample((dir) => {
      const f = path.join(dir, 'base', 'workers.yaml');
      writeFileSync(
        f,
        readFileSync(f, 'utf8').replace(
          '- secretRef: { name: prbot-forge-token }',
          '- secretRef: { name: prbot-forge-tokens }',
        ),
      );
    });
    expect(referenceErrors(dangling)).toContain(
      'Deployment/prbot-worker-pr: envFrom names Secret prbot-forge-tokens, which is not rendered',
    );
    const unselected = renderExample((dir) => {
      const f = path.join(dir, 'base', 'disruption-budgets.yaml');
      writeFileSync(f, readFileSync(f, 'utf8').replace('component: worker-apply }', 'component: worker-aply }'));
    });
    expect(referenceErrors(unselected)).toContain(
      'PodDisruptionBudget/prbot-worker-apply: selects 0 Deployments, not 1',
    );
    expect(() =>
      renderExample((dir) =>
        writeFileSync(
          path.join(dir, 'overlays', 'example', 'kustomization.yaml'),
          readFileSync(path.join(dir, 'overlays', 'example', 'kustomization.yaml'), 'utf8') +
            'replicas: [{ name: prbot-worker-pr, count: 2 }]\n',
        ),
      ),
    ).toThrow(KustomizeError);
    // Without the documented copy of the example secrets, rendering stops (kustomize does too).
    expect(() =>
      renderExample((dir) => rmSync(path.join(dir, 'overlays', 'example', 'secrets', 'job-key.env'))),
    ).toThrow(/secrets\/job-key\.env/);
  });

  it('Secrets by role, as in docker-compose.yml: model keys only for propose, the forge token never for test, apply or propose', () => {
    const role = (name: string) =>
      secretKeys(
        docs,
        byName(
          docs,
          podSpecs.length && name === 'produce' ? 'CronJob' : 'Deployment',
          name === 'produce' ? 'prbot-produce' : name === 'dashboard' ? 'prbot-dashboard' : `prbot-worker-${name}`,
        ),
      );
    expect(role('test')).toEqual(['PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(role('apply')).toEqual(['PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(role('propose')).toEqual(['OPENROUTER_API_KEY', 'PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(role('pr')).toEqual(['GITEA_TOKEN', 'PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(role('events')).toEqual(['GITEA_TOKEN', 'PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(role('produce')).toEqual(['GITEA_TOKEN', 'PRBOT_JOB_KEY', 'REDIS_URL']);
    expect(role('dashboard')).toEqual([
      'GITEA_TOKEN',
      'PRBOT_DASHBOARD_PASSWORD',
      'PRBOT_DASHBOARD_USER',
      'PRBOT_JOB_KEY',
      'PRBOT_WEBHOOK_SECRET',
      'REDIS_URL',
    ]);
    // The config names the variables the roles' Secrets set: the key the propose role needs, the token pr needs.
    expect(Object.values(cfg.models.providers).map((p) => (p as { keyEnv?: string }).keyEnv)).toEqual([
      'OPENROUTER_API_KEY',
    ]);
    expect((cfg.forge as { tokenEnv?: string }).tokenEnv).toBe('GITEA_TOKEN');
    // Each role reaches Redis as its own ACL user (deploy/redis-users.acl.example).
    const user = (s: string) =>
      new URL(Buffer.from(byName(docs, 'Secret', s).data.REDIS_URL, 'base64').toString()).username;
    expect([user('prbot-redis-worker'), user('prbot-redis-producer'), user('prbot-redis-dashboard')]).toEqual([
      'prbot-worker',
      'prbot-producer',
      'prbot-dashboard',
    ]);
  });

  it("workers: grace above the worker's own shutdown, probes on worker.healthPort, one Deployment per queue role", () => {
    const workers = docs.filter((d) => d.kind === 'Deployment' && d.metadata.name.startsWith('prbot-worker-'));
    const served = workers.flatMap((w) => podSpecs(w)[0].containers[0].args.at(-1).split(','));
    expect(served.sort()).toEqual(['apply', 'events', 'pr', 'propose', 'test']);
    for (const w of workers) {
      const spec = podSpecs(w)[0];
      // main.ts exits by itself at grace + FORCE_WAIT_MS + 10 s; Kubernetes must not SIGKILL it first.
      expect(spec.terminationGracePeriodSeconds * 1000, w.metadata.name).toBeGreaterThan(
        cfg.worker.shutdownGraceMs + FORCE_WAIT_MS + 10_000,
      );
      expect(spec.automountServiceAccountToken, w.metadata.name).toBe(false);
      const c = spec.containers[0];
      expect(c.ports.find((p: { name: string }) => p.name === 'health').containerPort, w.metadata.name).toBe(
        (cfg.worker as { healthPort?: number }).healthPort,
      );
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    }
  });

  it('test workers: the securityContext bubblewrap needs, no API token, and a NetworkPolicy that lets out only Redis, DNS, the forge and (setup) the registry', () => {
    const spec = podSpecs(byName(docs, 'Deployment', 'prbot-worker-test'))[0];
    const sc = spec.containers[0].securityContext;
    expect(spec.hostUsers).toBe(false); // procMount: Unmasked is refused without a user namespace
    expect(sc).toMatchObject({
      runAsUser: 0,
      procMount: 'Unmasked',
      seccompProfile: { type: 'Unconfined' },
      appArmorProfile: { type: 'Unconfined' },
      capabilities: { drop: ['ALL'] },
    });
    expect(sc.capabilities.add).not.toContain('SYS_ADMIN');
    expect(sc.privileged).toBeUndefined();
    const np = byName(docs, 'NetworkPolicy', 'prbot-worker-test');
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress).toEqual([]);
    const ports = (np.spec.egress as { ports: { port: number }[] }[]).map((e) => e.ports.map((p) => p.port));
    expect(ports).toEqual([[6379, 26379], [53, 53], [443]]);
    expect(np.spec.egress[2].to).toEqual([{ ipBlock: { cidr: '198.51.100.0/28' } }]); // the overlay's forge address
    // The registry opening is there because this config lets setup commands use the network.
    expect(cfg.tests.network).toBe('setup');
    expect(byName(docs, 'NetworkPolicy', 'prbot-worker-test-registry').spec.policyTypes).toEqual(['Egress']);
    // Other roles run as the image's unprivileged user.
    for (const name of ['propose', 'apply', 'pr', 'events']) {
      expect(
        podSpecs(byName(docs, 'Deployment', `prbot-worker-${name}`))[0].containers[0].securityContext,
      ).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
  });

  it("ScaledObjects read queues.<queue>.load of /api/backlog at the dashboard's address, with the target each worker's concurrency", () => {
    const svc = byName(docs, 'Service', 'prbot-dashboard');
    for (const [name, queue, min] of [
      ['prbot-worker-test', 'test', 0],
      ['prbot-worker-propose', 'propose', 1],
    ] as const) {
      const so = byName(docs, 'ScaledObject', name);
      expect(so.spec.minReplicaCount).toBe(min);
      const [t] = so.spec.triggers;
      expect(t.type).toBe('metrics-api');
      const url = new URL(t.metadata.url);
      expect(url.hostname).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
      expect(Number(url.port)).toBe(svc.spec.ports[0].port);
      expect(url.pathname).toBe('/api/backlog');
      expect(t.metadata.valueLocation).toBe(`queues.${queue}.load`);
      expect(Number(t.metadata.targetValue)).toBe(cfg.queues[queue].concurrency);
      expect(podSpecs(byName(docs, 'Deployment', so.spec.scaleTargetRef.name))[0].containers[0].args).toEqual([
        'worker',
        '--queues',
        queue,
      ]);
    }
    expect(byName(docs, 'ScaledObject', 'prbot-worker-test').spec.maxReplicaCount).toBe(12); // the overlay's patch
  });
});
