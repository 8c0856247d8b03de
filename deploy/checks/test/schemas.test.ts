// Offline schema validation: the compose files against the Compose
// Specification's JSON schema (the copy the dclint package ships; nothing is
// downloaded), the Kubernetes manifests against the Kubernetes OpenAPI
// schemas compiled into the kubernetes-models package.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { composeDoc, read, ROOT, yamlDocs } from '../src/sources';

export const COMPOSE_FILES = [
  'docker-compose.yml',
  'docker-compose.scale.yml',
  'docker-compose.redis-cluster.yml',
  'docker-compose.redis-sentinel.yml',
  'deploy/production/compose.yml',
  'deploy/production/redis-tls.yml',
  'deploy/production/managed-redis.yml',
  'deploy/production/admin-ui.yml',
  'deploy/swarm/stack.yml',
];

function composeValidator() {
  const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '../node_modules/dclint/schemas/compose.schema.json'), 'utf8'));
  // Draft 07 (Ajv's default); the file names it by its https address, which Ajv knows as http.
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

describe('compose files validate against the Compose Specification schema', () => {
  const validate = composeValidator();
  for (const file of COMPOSE_FILES) {
    it(file, () => {
      // Merge keys and !reset / !override resolved as compose resolves them.
      const doc = composeDoc(file);
      const ok = validate(doc);
      assert.ok(ok, `${file}:\n${(validate.errors ?? []).map((e) => `  ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('\n')}`);
    });
  }
  it('the schema rejects a broken file (the validator is live)', () => {
    assert.equal(validate({ services: { a: { image: 'x', restart: 42, ports: 'nope' } } }), false);
  });
});

const K8S_DIR = path.join(ROOT, 'deploy/kubernetes');

async function modelFor(apiVersion: string, kind: string): Promise<new (o: unknown) => { validate(): void }> {
  // apps/v1 -> kubernetes-models/apps/v1/Deployment; v1 -> kubernetes-models/v1/Service
  const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
  return mod[kind] ?? mod.default;
}

describe('Kubernetes manifests validate against the Kubernetes schemas (offline)', () => {
  const files = fs.readdirSync(K8S_DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  it('has the objects the templates promise', () => {
    const kinds = files.flatMap((f) => yamlDocs(`deploy/kubernetes/${f}`).map((d) => d.kind)).sort();
    assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service']);
  });
  for (const f of files) {
    it(f, async () => {
      for (const doc of yamlDocs(`deploy/kubernetes/${f}`)) {
        const Model = await modelFor(String(doc.apiVersion), String(doc.kind));
        assert.doesNotThrow(() => new Model(doc).validate(), `${f}: ${doc.kind}`);
      }
    });
  }
  it('kustomization.yaml lists every manifest but the Secret template', () => {
    const k = YAML.parse(read('deploy/kubernetes/kustomization.yaml')) as { resources: string[] };
    assert.deepEqual([...k.resources].sort(), files.filter((f) => f !== 'secret.example.yaml').sort());
  });
  it('the validator is live: a Deployment with a bad field fails', async () => {
    const Model = await modelFor('apps/v1', 'Deployment');
    assert.throws(() => new Model({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'three', selector: {}, template: {} } }).validate());
  });
  it('selectors, probes and references line up', () => {
    const all = files.flatMap((f) => yamlDocs(`deploy/kubernetes/${f}`)) as any[];
    const by = (kind: string) => all.find((d) => d.kind === kind);
    const dep = by('Deployment');
    const labels = dep.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert.equal(labels[k], v);
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const sel = kind === 'Service' ? by(kind).spec.selector : by(kind).spec.selector.matchLabels;
      for (const [k, v] of Object.entries(sel)) assert.equal(labels[k], v, `${kind} selector ${k}`);
    }
    const c = dep.spec.template.spec.containers[0];
    for (const p of ['readinessProbe', 'livenessProbe']) assert.equal(c[p].httpGet.path, '/health');
    assert.equal(c.envFrom[0].configMapRef.name, by('ConfigMap').metadata.name);
    assert.equal(dep.spec.template.spec.volumes.find((v: any) => v.secret).secret.secretName, by('Secret').metadata.name);
    assert.equal(by('HorizontalPodAutoscaler').spec.scaleTargetRef.name, dep.metadata.name);
    assert.equal(by('Ingress').spec.rules[0].http.paths[0].backend.service.name, by('Service').metadata.name);
    assert.equal(by('Ingress').metadata.annotations['nginx.ingress.kubernetes.io/affinity'], 'cookie');
  });
});
