// The part of kustomize prbot's manifests use, done here so `pnpm test` renders the overlay
// offline (no kustomize binary on npm). It refuses any kustomization field it does not
// implement, so a manifest that starts using one fails the test instead of rendering wrong.
// Implemented as kustomize documents them (kubectl.docs.kubernetes.io, "Kustomization"):
// resources and components (files or directories), namespace, labels (metadata only unless
// includeSelectors), images, configMapGenerator (files) and secretGenerator (envs) with a
// content hash appended to the name and every reference to it renamed, and JSON 6902 patches.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';

export type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: any;
};

const KNOWN = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'components',
  'labels',
  'images',
  'configMapGenerator',
  'secretGenerator',
  'patches',
]);
/** Kinds kustomize never puts in a namespace. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'ClusterTriggerAuthentication',
  'PersistentVolume',
  'StorageClass',
]);

export class KustomizeError extends Error {}

export function readDocs(file: string): Doc[] {
  return YAML.parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d, i) => {
      if (d.errors.length) throw new KustomizeError(`${file} document ${i + 1}: ${d.errors[0]!.message}`);
      return d.toJS() as Doc;
    })
    .filter(Boolean);
}

function kustomizationIn(dir: string): Record<string, any> {
  const file = path.join(dir, 'kustomization.yaml');
  const k = readDocs(file)[0] as Record<string, any>;
  for (const key of Object.keys(k))
    if (!KNOWN.has(key)) throw new KustomizeError(`${file}: field "${key}" is not implemented by test/kustomize.ts`);
  return k;
}

const hash = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 10);

function envFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim() || line.trimStart().startsWith('#')) return;
      const eq = line.indexOf('=');
      if (eq <= 0) throw new KustomizeError(`${file}:${i + 1}: not KEY=VALUE`);
      out[line.slice(0, eq)] = line.slice(eq + 1);
    });
  return out;
}

/** Every pod spec in a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob). */
export function podSpecs(d: Doc): any[] {
  if (d.kind === 'CronJob') return [d.spec?.jobTemplate?.spec?.template?.spec].filter(Boolean);
  return [d.spec?.template?.spec].filter(Boolean);
}

/** The fields that name a ConfigMap or Secret, as kustomize's name-reference transformer knows them. */
function renameRefs(docs: Doc[], kind: 'ConfigMap' | 'Secret', from: string, to: string): void {
  const swap = (o: any, key: string) => o && o[key] === from && (o[key] = to);
  for (const d of docs) {
    for (const spec of podSpecs(d)) {
      for (const v of spec.volumes ?? [])
        kind === 'ConfigMap' ? swap(v.configMap, 'name') : swap(v.secret, 'secretName');
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
        for (const e of c.envFrom ?? []) swap(kind === 'ConfigMap' ? e.configMapRef : e.secretRef, 'name');
        for (const e of c.env ?? [])
          swap(kind === 'ConfigMap' ? e.valueFrom?.configMapKeyRef : e.valueFrom?.secretKeyRef, 'name');
      }
    }
    if (kind === 'Secret' && (d.kind === 'TriggerAuthentication' || d.kind === 'ClusterTriggerAuthentication'))
      for (const r of d.spec?.secretTargetRef ?? []) swap(r, 'name');
  }
}

function pointer(p: string): string[] {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 add, replace and remove (what prbot's overlays use); a path that does not resolve throws. */
function jsonPatch(doc: Doc, ops: { op: string; path: string; value?: unknown }[], where: string): void {
  for (const o of ops) {
    const parts = pointer(o.path);
    const last = parts.pop()!;
    let at: any = doc;
    for (const p of parts) {
      at = at?.[p];
      if (at === undefined)
        throw new KustomizeError(`${where}: patch path ${o.path} does not exist in ${doc.kind}/${doc.metadata.name}`);
    }
    if (o.op === 'replace' || o.op === 'remove') {
      if (!(last in at))
        throw new KustomizeError(`${where}: patch path ${o.path} does not exist in ${doc.kind}/${doc.metadata.name}`);
      if (o.op === 'replace') at[last] = o.value;
      else if (Array.isArray(at)) at.splice(Number(last), 1);
      else delete at[last];
    } else if (o.op === 'add') {
      if (Array.isArray(at)) at.splice(last === '-' ? at.length : Number(last), 0, o.value);
      else at[last] = o.value;
    } else throw new KustomizeError(`${where}: patch op "${o.op}" is not implemented by test/kustomize.ts`);
  }
}

/** Renders the kustomization in `dir` (what `kubectl kustomize dir` prints), as objects. */
export function render(dir: string): Doc[] {
  const k = kustomizationIn(dir);
  const where = path.join(dir, 'kustomization.yaml');
  let docs: Doc[] = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    docs.push(...(statSync(p).isDirectory() ? render(p) : readDocs(p)));
  }
  const generated: { kind: 'ConfigMap' | 'Secret'; from: string; doc: Doc }[] = [];
  for (const g of k.configMapGenerator ?? []) {
    const data = Object.fromEntries(
      (g.files ?? []).map((f: string) => [path.basename(f), readFileSync(path.resolve(dir, f), 'utf8')]),
    );
    generated.push({
      kind: 'ConfigMap',
      from: g.name,
      doc: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${g.name}-${hash(data)}` }, data },
    });
  }
  for (const g of k.secretGenerator ?? []) {
    const values = Object.assign({}, ...(g.envs ?? []).map((f: string) => envFile(path.resolve(dir, f))));
    const data = Object.fromEntries(
      Object.entries(values).map(([n, v]) => [n, Buffer.from(String(v)).toString('base64')]),
    );
    generated.push({
      kind: 'Secret',
      from: g.name,
      doc: { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: `${g.name}-${hash(data)}` }, data },
    });
  }
  for (const g of generated) {
    if (docs.some((d) => d.kind === g.kind && d.metadata.name === g.from))
      throw new KustomizeError(
        `${where}: ${g.kind} ${g.from} exists already (behavior merge/replace is not implemented)`,
      );
    docs.push(g.doc);
    renameRefs(docs, g.kind, g.from, g.doc.metadata.name);
  }
  for (const c of k.components ?? []) {
    const cdir = path.resolve(dir, c);
    const ck = kustomizationIn(cdir);
    if (ck.kind !== 'Component') throw new KustomizeError(`${cdir}: not a Component`);
    docs.push(...render(cdir));
  }
  for (const p of k.patches ?? []) {
    const ops = YAML.parse(p.patch);
    if (!Array.isArray(ops))
      throw new KustomizeError(`${where}: only JSON 6902 patches are implemented by test/kustomize.ts`);
    const hits = docs.filter(
      (d) => (!p.target.kind || d.kind === p.target.kind) && (!p.target.name || d.metadata.name === p.target.name),
    );
    if (hits.length === 0)
      throw new KustomizeError(`${where}: patch target ${JSON.stringify(p.target)} matches nothing`);
    for (const d of hits) jsonPatch(d, ops, where);
  }
  for (const img of k.images ?? []) {
    for (const d of docs)
      for (const spec of podSpecs(d))
        for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
          const name = String(c.image)
            .replace(/@.*$/, '')
            .replace(/:[^:/]*$/, '');
          if (name === img.name) c.image = `${img.newName ?? img.name}${img.newTag ? `:${img.newTag}` : ''}`;
        }
  }
  for (const l of k.labels ?? []) {
    for (const d of docs) {
      d.metadata.labels = { ...d.metadata.labels, ...l.pairs };
      if (l.includeSelectors)
        throw new KustomizeError(`${where}: labels.includeSelectors is not implemented by test/kustomize.ts`);
    }
  }
  if (k.namespace)
    docs = docs.map((d) =>
      CLUSTER_SCOPED.has(d.kind) ? d : { ...d, metadata: { ...d.metadata, namespace: k.namespace } },
    );
  return docs;
}

/**
 * A temporary copy of deploy/kubernetes after the documented first step (each
 * overlays/example/secrets/*.env.example copied to *.env), with `edit` applied; the caller removes it.
 */
export function exampleWorkspace(source: string, edit: (dir: string) => void = () => {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prbot-k8s-'));
  cpSync(source, dir, { recursive: true });
  const secrets = path.join(dir, 'overlays', 'example', 'secrets');
  for (const f of readdirSync(secrets))
    if (f.endsWith('.env.example')) cpSync(path.join(secrets, f), path.join(secrets, f.replace(/\.example$/, '')));
  edit(dir);
  return dir;
}
