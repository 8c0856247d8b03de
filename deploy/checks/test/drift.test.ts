// No drift: the service's zod schema (services/realtime/src/config.ts) is the
// one source of the variables and their defaults. .env.example, the README's
// configuration table, the compose files and the Kubernetes ConfigMap must
// name the same variables with the same defaults. Every deliberate
// difference is listed here with its reason, so a new one is a decision.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeEnv, envExample, read, readmeTable, schemaDefaults, SECRET_FILE_VARIABLES, yamlDocs } from '../src/sources';

const schema = schemaDefaults();
const names = [...schema.keys()];

/** Variables compose files do not pass, and why. */
const NOT_PASSED_BY_COMPOSE: Record<string, string> = {
  HOST: 'the default 0.0.0.0 is what a container needs',
  NODE_ENV: 'the image sets NODE_ENV=production (services/realtime/Dockerfile)',
};
/** Values compose sets on purpose, per file and variable. */
const COMPOSE_SETS: Record<string, Record<string, string>> = {
  'docker-compose.yml': {
    NODE_ENV: 'development: the dev stack logs in with the demo login, which production refuses',
    AUTH_DEMO_LOGIN: 'the dev stack (demo page, e2e, load test) logs in with POST /api/login',
    AUTH_DEMO_ADMINS: 'the dev stack\'s operator `admin` sees the demo page\'s cluster view',
    PORT: 'the port nginx and the healthcheck use',
    REDIS_MODE: 'single, stated: the Redis overlays below set cluster or sentinel',
    REDIS_URL: 'the compose service name',
    MONGO_URL: 'the compose service name',
    AUTH_SECRET: 'a dev secret for the demo login; production refuses every shipped secret',
    TRUST_PROXY: 'nginx is the one proxy in front; the schema default (0) believes no X-Forwarded-For',
  },
  'deploy/production/compose.yml': {
    NODE_ENV: 'production, stated',
    AUTH_PUBLIC_KEY_FILE: 'the auth_public_key secret: the identity provider\'s public key',
    PORT: 'the port nginx and the healthcheck use',
    REDIS_URL: 'the compose service name (the password comes from REDIS_PASSWORD_FILE)',
    TRUST_PROXY: 'nginx is the one proxy in front',
  },
  'deploy/swarm/stack.yml': {
    NODE_ENV: 'production, stated',
    AUTH_PUBLIC_KEY_FILE: 'the auth_public_key secret: the identity provider\'s public key',
    PORT: 'the port nginx and the healthcheck use',
    REDIS_URL: 'the stack service name (the password comes from REDIS_PASSWORD_FILE)',
    INSTANCE_NAME: 'realtime-<task slot>, a swarm template',
    TRUST_PROXY: 'nginx is the one proxy in front',
  },
};
/** The admin UI's password turns it on: the production templates leave it to an overlay or a Secret, by name. */
const ADMIN_UI_SECRETS = {
  ADMIN_UI_PASSWORD: 'off in production unless turned on: deploy/production/admin-ui.yml passes ADMIN_UI_PASSWORD_FILE',
  ADMIN_UI_PASSWORD_HASH: 'off in production unless turned on (ADMIN_UI_PASSWORD_FILE, deploy/production/admin-ui.yml)',
};
/** Demo login and its HMAC secret have no place in the production templates: they must not pass them. */
const DEMO_ONLY = ['AUTH_SECRET', 'AUTH_DEMO_LOGIN', 'AUTH_DEMO_LOGIN_IN_PRODUCTION', 'AUTH_DEMO_ADMINS'];
/** Variables a compose file leaves out on purpose, per file. */
const COMPOSE_LEAVES_OUT: Record<string, Record<string, string>> = {
  'docker-compose.yml': {
    AUTH_DEMO_LOGIN_IN_PRODUCTION: 'the dev stack runs with NODE_ENV=development',
    ADMIN_UI_PASSWORD_HASH: 'the dev stack\'s admin UI password comes from make up (ADMIN_UI_PASSWORD)',
  },
  'deploy/production/compose.yml': {
    ...Object.fromEntries(DEMO_ONLY.map((n) => [n, 'demo login is refused in production'])),
    ...ADMIN_UI_SECRETS,
    AUTH_JWKS_FILE: 'the identity provider\'s key is AUTH_PUBLIC_KEY_FILE here',
  },
  'deploy/swarm/stack.yml': {
    ...Object.fromEntries(DEMO_ONLY.map((n) => [n, 'demo login is refused in production'])),
    ...ADMIN_UI_SECRETS,
    ADMIN_UI_USERNAME: 'the admin UI is off in the swarm template (deploy/README.md, "The admin UI")',
    ADMIN_UI_MODE: 'the admin UI is off in the swarm template (deploy/README.md, "The admin UI")',
    AUTH_JWKS_FILE: 'the identity provider\'s key is AUTH_PUBLIC_KEY_FILE here',
  },
};

/**
 * Overlays `make up REDIS=cluster|sentinel` adds to a compose file: together
 * they pass what the file alone does not (the node addresses), and set the
 * topology they run on purpose.
 */
const COMPOSE_OVERLAYS: Record<string, Record<string, { mode: string; sets: Record<string, string> }>> = {
  'docker-compose.yml': {
    'docker-compose.redis-cluster.yml': {
      mode: 'cluster',
      sets: { REDIS_MODE: 'the topology of this overlay', REDIS_CLUSTER_NODES: 'the six node services of the overlay' },
    },
    'docker-compose.redis-sentinel.yml': {
      mode: 'sentinel',
      sets: { REDIS_MODE: 'the topology of this overlay', REDIS_SENTINELS: 'the three Sentinel services of the overlay' },
    },
  },
};

/** The Kubernetes ConfigMap: values that are not the schema's default, and variables it leaves out. */
const CONFIGMAP_SETS: Record<string, string> = {
  NODE_ENV: 'production',
  REDIS_URL: 'the managed Redis',
  TRUST_PROXY: 'the ingress controller is the one proxy in front',
  AUTH_ISSUER: 'the identity provider, an example to replace',
  AUTH_AUDIENCE: 'the identity provider, an example to replace',
};
const CONFIGMAP_LEAVES_OUT: Record<string, string> = {
  ...Object.fromEntries(DEMO_ONLY.map((n) => [n, 'demo login is refused in production'])),
  AUTH_PUBLIC_KEY_FILE: 'set in the Deployment: the Secret mounted as a file',
  ADMIN_UI_PASSWORD: 'a Secret (ADMIN_UI_PASSWORD_FILE, commented out in the Deployment: the admin UI is off until turned on)',
  ADMIN_UI_PASSWORD_HASH: 'the admin UI is off until turned on with ADMIN_UI_PASSWORD_FILE (a Secret)',
  ADMIN_UI_MODE: 'follows NODE_ENV (production); an empty value is not a mode: a commented example',
  AUTH_JWKS_FILE: 'the identity provider\'s key is AUTH_PUBLIC_KEY_FILE in the Deployment',
  MONGO_URL: 'a Secret, it carries credentials (MONGO_URL_FILE)',
  INSTANCE_NAME: "the pod's name, from the downward API",
  REDIS_PASSWORD: 'a Secret (REDIS_PASSWORD_FILE)',
  REDIS_ADAPTER: 'no fixed default (sharded on a cluster, classic otherwise) and an empty value is not an adapter: a commented example',
  ADAPTER: 'the alias of REDIS_ADAPTER',
};

describe('one configuration source, no drift', () => {
  it('the schema is readable and names every variable once', () => {
    assert.ok(names.length >= 30, `only ${names.length} variables found in config.ts`);
    assert.equal(new Set(names).size, names.length);
  });

  it('.env.example names every variable with the schema default, and every secret file variant', () => {
    const ex = envExample();
    for (const [name, def] of schema) {
      assert.ok(ex.has(name), `.env.example lacks ${name}`);
      assert.equal(ex.get(name), def ?? '', `.env.example: ${name}=${ex.get(name)}, the schema says ${def ?? '(unset)'}`);
    }
    for (const name of SECRET_FILE_VARIABLES) assert.ok(ex.has(name), `.env.example lacks ${name}`);
  });

  it("the README's configuration table names every variable with the schema default", () => {
    const rows = readmeTable();
    const documented = new Map<string, string | undefined>();
    for (const row of rows) row.vars.forEach((v, i) => documented.set(v, row.defaults?.[i]));
    for (const [name, def] of schema) {
      assert.ok(documented.has(name), `README.md's configuration table lacks ${name}`);
      const doc = documented.get(name);
      // A default described in words ("container name", "empty", "a dev secret") is checked by a person.
      if (doc !== undefined) assert.equal(doc, def, `README.md: ${name} default \`${doc}\`, the schema says ${def}`);
    }
    for (const name of documented.keys()) assert.ok(schema.has(name) || SECRET_FILE_VARIABLES.includes(name), `README.md documents ${name}, which the service does not read`);
    for (const name of SECRET_FILE_VARIABLES) assert.ok(documented.has(name), `README.md's configuration table lacks ${name}`);
  });

  for (const file of Object.keys(COMPOSE_SETS)) {
    it(`${file}: the realtime service passes every variable, with the schema defaults`, () => {
      const env = composeEnv(file);
      for (const [name, value] of env) {
        assert.ok(schema.has(name) || SECRET_FILE_VARIABLES.includes(name), `${file} passes ${name}, which the service does not read`);
        if (value.kind === 'passthrough') continue;
        if (COMPOSE_SETS[file][name]) continue;
        if (value.kind === 'literal' && SECRET_FILE_VARIABLES.includes(name)) continue;
        assert.equal(value.kind, 'interpolated', `${file}: ${name} is fixed to "${(value as { value: string }).value}" (add it to COMPOSE_SETS with a reason, or use \${${name}:-default})`);
        if (value.kind === 'interpolated') {
          assert.equal(value.name, name, `${file}: ${name} reads \${${value.name}}`);
          assert.equal(value.fallback, schema.get(name), `${file}: ${name} defaults to ${value.fallback}, the schema says ${schema.get(name)}`);
        }
      }
      const overlays = Object.keys(COMPOSE_OVERLAYS[file] ?? {}).map((o) => composeEnv(o));
      for (const name of DEMO_ONLY) {
        if (file !== 'docker-compose.yml') assert.ok(!env.has(name), `${file} passes ${name}: demo login has no place in production`);
      }
      for (const name of names) {
        if (NOT_PASSED_BY_COMPOSE[name] || COMPOSE_LEAVES_OUT[file]?.[name]) continue;
        const viaFile = `${name}_FILE`;
        const viaPassword = name === 'REDIS_URL' && env.has('REDIS_PASSWORD_FILE');
        const viaOverlay = overlays.some((o) => o.has(name));
        assert.ok(env.has(name) || env.has(viaFile) || viaPassword || viaOverlay, `${file} does not pass ${name} to the replicas`);
      }
    });
  }

  for (const [base, overlays] of Object.entries(COMPOSE_OVERLAYS)) {
    for (const [file, { mode, sets }] of Object.entries(overlays)) {
      it(`${file} (over ${base}): sets REDIS_MODE=${mode} and passes only schema variables, with the schema defaults`, () => {
        const env = composeEnv(file);
        assert.deepEqual(env.get('REDIS_MODE'), { kind: 'literal', value: mode });
        // The single Redis' address must not reach the replicas of another topology.
        assert.ok(!env.has('REDIS_URL'), `${file} passes REDIS_URL: reset it (REDIS_URL: !reset null)`);
        for (const [name, value] of env) {
          assert.ok(schema.has(name), `${file} passes ${name}, which the service does not read`);
          if (value.kind === 'passthrough' || sets[name]) continue;
          assert.equal(value.kind, 'interpolated', `${file}: ${name} is fixed (add it to COMPOSE_OVERLAYS with a reason, or use \${${name}:-default})`);
          if (value.kind === 'interpolated') assert.equal(value.fallback, schema.get(name), `${file}: ${name} defaults to ${value.fallback}, the schema says ${schema.get(name)}`);
        }
      });
    }
  }

  it('the Kubernetes ConfigMap has every plain variable with the schema default', () => {
    const cm = yamlDocs('deploy/kubernetes/configmap.yaml').find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> };
    for (const [name, value] of Object.entries(cm.data)) {
      assert.ok(schema.has(name), `the ConfigMap sets ${name}, which the service does not read`);
      assert.equal(typeof value, 'string', `ConfigMap ${name} must be a string`);
      if (!CONFIGMAP_SETS[name]) assert.equal(value, schema.get(name) ?? '', `ConfigMap ${name}="${value}", the schema says ${schema.get(name)}`);
    }
    for (const name of names) {
      if (CONFIGMAP_LEAVES_OUT[name]) continue;
      assert.ok(name in cm.data, `the ConfigMap lacks ${name}`);
    }
    // What it leaves out reaches the pod another way.
    const dep = yamlDocs('deploy/kubernetes/deployment.yaml')[0] as { spec: { template: { spec: { containers: { env: { name: string }[] }[] } } } };
    const podEnv = dep.spec.template.spec.containers[0].env.map((e) => e.name);
    for (const name of ['AUTH_PUBLIC_KEY_FILE', 'MONGO_URL_FILE', 'REDIS_PASSWORD_FILE', 'INSTANCE_NAME']) assert.ok(podEnv.includes(name), `the Deployment does not set ${name}`);
    for (const name of DEMO_ONLY) assert.ok(!podEnv.includes(name) && !podEnv.includes(`${name}_FILE`), `the Deployment sets ${name}`);
  });

  it('the shutdown budget fits: stop_grace_period and terminationGracePeriodSeconds above SHUTDOWN_TIMEOUT_MS', () => {
    const budget = Number(schema.get('SHUTDOWN_TIMEOUT_MS')) / 1000;
    for (const file of ['docker-compose.yml', 'deploy/production/compose.yml']) {
      const m = /stop_grace_period: (\d+)s/.exec(read(file));
      assert.ok(m && Number(m[1]) > budget, `${file}: stop_grace_period must exceed ${budget}s`);
    }
    const dep = read('deploy/kubernetes/deployment.yaml');
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(dep)![1]);
    const preStop = Number(/command: \["sleep", "(\d+)"\]/.exec(dep)![1]);
    assert.ok(grace > preStop + budget, `terminationGracePeriodSeconds ${grace} <= preStop ${preStop} + ${budget}`);
  });

  it('operators\' views: no default Grafana password, Prometheus behind a password, SB_BIND on 127.0.0.1 in every example', () => {
    const dev = read('docker-compose.yml');
    assert.doesNotMatch(dev, /GF_SECURITY_ADMIN_PASSWORD:/, 'Grafana\'s admin password must come from a secret file (GF_SECURITY_ADMIN_PASSWORD__FILE)');
    assert.match(dev, /GF_SECURITY_ADMIN_PASSWORD__FILE: \/run\/secrets\/grafana_admin_password/);
    assert.match(dev, /--web\.config\.file=\/run\/secrets\/prometheus_web/);
    for (const m of dev.matchAll(/\$\{SB_BIND:-([^}]*)\}/g)) assert.equal(m[1], '127.0.0.1');
    assert.equal(envExample().get('SB_BIND'), '127.0.0.1');
    assert.doesNotMatch(read('.env.example'), /SB_BIND=0\.0\.0\.0/);
    const prom = read('deploy/observability/prometheus/prometheus.yml');
    assert.match(prom, /port: 9464/, 'Prometheus scrapes the internal metrics port');
    for (const file of ['nginx.conf', 'deploy/production/nginx.conf']) assert.doesNotMatch(read(file), /9464/, `${file} must not proxy the metrics port`);
    assert.doesNotMatch(read('deploy/kubernetes/ingress.yaml'), /metrics|9464/, 'no ingress path to the metrics port');
  });

  it('the production templates leave the admin UI off until someone turns it on by name', () => {
    for (const file of ['deploy/production/compose.yml', 'deploy/swarm/stack.yml']) {
      const env = composeEnv(file);
      for (const name of ['ADMIN_UI_PASSWORD', 'ADMIN_UI_PASSWORD_FILE', 'ADMIN_UI_PASSWORD_HASH', 'ADMIN_UI_PASSWORD_HASH_FILE']) assert.ok(!env.has(name), `${file} passes ${name}`);
    }
    assert.deepEqual(composeEnv('deploy/production/admin-ui.yml').get('ADMIN_UI_PASSWORD_FILE'), { kind: 'literal', value: '/run/secrets/admin_ui_password' });
    const dep = yamlDocs('deploy/kubernetes/deployment.yaml')[0] as { spec: { template: { spec: { containers: { env: { name: string }[] }[] } } } };
    const podEnv = dep.spec.template.spec.containers[0].env.map((e) => e.name);
    assert.ok(!podEnv.some((n) => n.startsWith('ADMIN_UI_PASSWORD')), 'the Deployment turns the admin UI on');
  });

  it("the production nginx proxies exactly like the dev one (maps, upstream, location /)", () => {
    const blocks = (text: string) => {
      const clean = text.replace(/#[^\n]*/g, '').replace(/\s+/g, ' ');
      const grab = (re: RegExp) => {
        const m = re.exec(clean);
        assert.ok(m, `nginx block ${re} not found`);
        return m[0];
      };
      return {
        upgrade: grab(/map \$http_upgrade \$connection_upgrade \{[^}]*\}/),
        sticky: grab(/map \$arg_cid \$sticky \{[^}]*\}/),
        upstream: grab(/upstream realtime \{[^}]*\}/),
        proxy: grab(/location \/ \{ proxy_pass[^}]*\}/),
      };
    };
    assert.deepEqual(blocks(read('deploy/production/nginx.conf')), blocks(read('nginx.conf')));
  });

  it('the production nginx limits /socket.io/ per address exactly like the dev stack (deploy/stack/nginx-limits)', () => {
    const clean = (text: string) => text.replace(/#[^\n]*/g, '').replace(/\s+/g, ' ').trim();
    const limits = clean(read('deploy/stack/nginx-limits/socketio.conf'));
    assert.match(limits, /limit_req zone=sb_handshakes/);
    assert.ok(clean(read('deploy/production/nginx.conf')).includes(limits), 'deploy/production/nginx.conf lacks the lines of deploy/stack/nginx-limits/socketio.conf');
    assert.match(read('nginx.conf'), /include \/etc\/nginx\/switchboard-limits\/\*\.conf;/);
  });
});
