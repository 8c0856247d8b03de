// The production compose file on a real engine: TLS at nginx with a
// self-signed pair from `make certs`' script, HTTP redirected, a Socket.IO
// chat across two replicas over wss:// with the certificate trusted
// explicitly, real authentication (tokens signed with the key pair `make certs`
// made, as an identity provider would; no demo login), operators' views and
// /metrics out of reach through nginx, Redis refusing clients without the
// password, read-only roots, and no secret in any image layer or `docker inspect` output.
// Its own compose project, ports and secrets: a person's stack is never touched.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { cidsOnTwoReplicas, connect, exchange, join, routingSettled, signedToken, type Client } from '../src/chat';
import { docker, exec, freePort, mustDocker, readyImages, request } from '../src/docker';
import { ROOT } from '../src/sources';

const PROJECT = `sbprod${process.pid}`;
const PROD = path.join(ROOT, 'deploy/production');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-prod-'));
const dirs = { certs: path.join(tmp, 'certs'), secrets: path.join(tmp, 'secrets'), upstream: path.join(tmp, 'upstream') };
let env: NodeJS.ProcessEnv = {};
let https = '';
let httpUrl = '';
let ca = '';
const clients: Client[] = [];

const compose = (args: string[]) => docker(['compose', '-p', PROJECT, '-f', path.join(PROD, 'compose.yml'), ...args], { env });
const secretValues = () => [
  ...['redis_password', 'mongo_password'].map((f) => fs.readFileSync(path.join(dirs.secrets, f), 'utf8').trim()),
  // A line from the middle of each private key (the identity provider's signing key never reaches a container).
  ...[path.join(dirs.certs, 'tls.key'), path.join(dirs.secrets, 'redis_tls.key'), path.join(dirs.secrets, 'auth_signing_key.pem')].map((f) => fs.readFileSync(f, 'utf8').split('\n')[5]),
];
/** The issuer and audience the replicas expect, as a team's identity provider would set them. */
const IDP = { AUTH_ISSUER: 'https://idp.checks.example/realms/switchboard', AUTH_AUDIENCE: 'switchboard-realtime' };

describe('production compose (deploy/production) over TLS', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    const images = await readyImages();
    const [httpsPort, httpPort] = [await freePort(), await freePort()];
    env = {
      ...process.env,
      ...images,
      SB_BIND: '127.0.0.1',
      SB_HTTPS_PORT: String(httpsPort),
      SB_HTTP_PORT: String(httpPort),
      TLS_CERT_FILE: path.join(dirs.certs, 'tls.crt'),
      TLS_KEY_FILE: path.join(dirs.certs, 'tls.key'),
      SB_SECRETS_DIR: dirs.secrets,
      SB_NGINX_UPSTREAM_DIR: dirs.upstream,
      TLS_DIR: dirs.certs,
      // The local MongoDB-wire image (FerretDB) has no users: a URL without credentials.
      MONGO_AUTH: images.MONGO_IMAGE.startsWith('switchboard/') ? '0' : '1',
      ...IDP,
    };
    https = `https://localhost:${httpsPort}`;
    httpUrl = `http://127.0.0.1:${httpPort}`;
    const made = await exec(path.join(PROD, 'make-secrets.sh'), [], { env });
    assert.equal(made.code, 0, made.stdout + made.stderr);
    ca = fs.readFileSync(env.TLS_CERT_FILE!, 'utf8');
    const up = await compose(['up', '-d', '--wait', '--wait-timeout', '180', '--scale', 'realtime=2']);
    assert.equal(up.code, 0, `compose up failed:\n${(up.stdout + up.stderr).split('\n').slice(-30).join('\n')}`);
    const routed = await exec(path.join(PROD, 'route.sh'), [PROJECT], { env });
    assert.equal(routed.code, 0, routed.stdout + routed.stderr);
    await routingSettled(`https://localhost:${httpsPort}`, ca, 2);
  });

  after(async () => {
    for (const c of clients) c.socket.disconnect();
    const down = await compose(['down', '--volumes', '--remove-orphans', '--timeout', '20']);
    fs.rmSync(tmp, { recursive: true, force: true });
    assert.equal(down.code, 0, down.stderr);
  });

  it('redirects plain HTTP to HTTPS', async () => {
    const r = await request(`${httpUrl}/health?cid=x`);
    assert.equal(r.status, 301);
    assert.match(String(r.headers.location), /^https:\/\/127\.0\.0\.1(:\d+)?\/health\?cid=x$/);
  });

  it('serves HTTPS with the self-signed certificate trusted explicitly (and refuses without it)', async () => {
    const r = await request(`${https}/health`, { ca });
    assert.equal(r.status, 200);
    assert.equal(r.json().status, 'ok');
    assert.match(String(r.headers['strict-transport-security']), /max-age=/);
    await assert.rejects(request(`${https}/health`), /self[- ]signed|certificate/i);
  });

  it('chats across two replicas through wss:// (sticky by client id)', async () => {
    const [cidA, replicaA, cidB, replicaB] = await cidsOnTwoReplicas(https, ca, 'prod');
    assert.notEqual(replicaA, replicaB);
    const alice = await connect(https, 'prod-alice', cidA, ca, await signedToken('prod-alice', env));
    const bob = await connect(https, 'prod-bob', cidB, ca, await signedToken('prod-bob', env));
    clients.push(alice, bob);
    assert.equal(alice.socket.io.engine.transport.name, 'websocket');
    assert.match((alice.socket.io as unknown as { uri: string }).uri, /^https:/);
    await join(alice, 'prod');
    await join(bob, 'prod');
    const m = await exchange(alice, bob, 'prod', 'hello over wss');
    assert.equal(m.instance, replicaA, 'the message was stamped by the sender replica, so it crossed replicas');
    const back = await exchange(bob, alice, 'prod', 'and back');
    assert.equal(back.instance, replicaB);
  });

  it('has no demo login, refuses tokens not signed by the identity provider, and serves its tokens', async () => {
    const demo = await request(`${https}/api/login?cid=x`, { body: { userId: 'mallory' }, ca });
    assert.equal(demo.status, 404, `POST /api/login answered ${demo.status}: ${demo.text}`);
    const token = await signedToken('prod-carol', env);
    const me = await request(`${https}/api/session?cid=x`, { ca, headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json<{ userId: string }>().userId, 'prod-carol');
    // The same claims signed by another key, or by the right key for another audience: refused.
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-prod-other-'));
    try {
      const made = await exec(path.join(PROD, 'make-secrets.sh'), [], { env: { ...env, SB_SECRETS_DIR: otherDir, TLS_DIR: path.join(otherDir, 'certs'), SB_NGINX_UPSTREAM_DIR: path.join(otherDir, 'u') } });
      assert.equal(made.code, 0, made.stderr);
      for (const bad of [await signedToken('prod-carol', { ...env, SB_SECRETS_DIR: otherDir }), await signedToken('prod-carol', { ...env, AUTH_AUDIENCE: 'another-app' })]) {
        assert.equal((await request(`${https}/api/session?cid=x`, { ca, headers: { authorization: `Bearer ${bad}` } })).status, 401);
        const socket = io(https, { auth: { token: bad }, query: { cid: 'x' }, transports: ['websocket'], reconnection: false, ca });
        const refused = await new Promise<string>((resolve) => {
          socket.once('connect', () => resolve('connected'));
          socket.once('connect_error', (err) => resolve(err.message));
        });
        socket.close();
        assert.equal(refused, 'unauthorized');
      }
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it("keeps operators' views for the admin role and /metrics off nginx", async () => {
    const user = await signedToken('prod-dave', env);
    const admin = await signedToken('prod-oncall', env, 'admin');
    const as = (token: string, route: string) => request(`${https}${route}${route.includes('?') ? '&' : '?'}cid=x`, { ca, headers: { authorization: `Bearer ${token}` } });
    for (const route of ['/api/stats', '/api/jobs/stats']) {
      assert.equal((await as(user, route)).status, 403, route);
      assert.equal((await as(admin, route)).status, 200, route);
    }
    assert.equal((await as(admin, '/api/jobs/meta')).status, 400);
    assert.equal((await request(`${https}/metrics?cid=x`, { ca })).status, 404);
    // Prometheus' port answers inside the network only.
    const inside = await compose(['exec', '-T', 'realtime', 'node', '-e', "fetch('http://127.0.0.1:9464/metrics').then(async (r) => { console.log(r.status); console.log((await r.text()).includes('sb_socket_connections')); })"]);
    assert.match(inside.stdout, /^200\ntrue$/m, inside.stdout + inside.stderr);
  });

  it('Redis refuses clients without the password', async () => {
    const r = await mustDocker(['compose', '-p', PROJECT, '-f', path.join(PROD, 'compose.yml'), 'exec', '-T', 'redis', 'redis-cli', 'ping'], { env });
    assert.match(r.stdout + r.stderr, /NOAUTH/);
  });

  it('runs with read-only root file systems and publishes only nginx', async () => {
    const ids = (await mustDocker(['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim().split('\n');
    assert.equal(ids.length, 5);
    for (const id of ids) {
      const [name, ro, ports] = (await mustDocker(['inspect', '--format', '{{.Name}}|{{.HostConfig.ReadonlyRootfs}}|{{json .HostConfig.PortBindings}}', id])).stdout.trim().split('|');
      assert.equal(ro, 'true', `${name} has a writable root file system`);
      if (name.includes('-nginx-')) assert.deepEqual(Object.keys(JSON.parse(ports)).sort(), ['443/tcp', '80/tcp']);
      else assert.ok(ports === '{}' || ports === 'null', `${name} publishes ${ports}`);
    }
    const touch = await compose(['exec', '-T', 'realtime', 'sh', '-c', 'touch /app/x']);
    assert.notEqual(touch.code, 0);
    assert.match(touch.stderr + touch.stdout, /Read-only file system/);
  });

  it('puts no secret in an image layer, in docker inspect output or in the replicas\' environment', async () => {
    const secrets = secretValues();
    for (const s of secrets) assert.ok(s.length >= 32);
    const ids = (await mustDocker(['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim().split('\n');
    const inspect = (await mustDocker(['inspect', ...ids])).stdout;
    const imageIds = [...new Set(JSON.parse(inspect).map((c: { Image: string }) => c.Image))] as string[];
    const imageInspect = (await mustDocker(['image', 'inspect', ...imageIds])).stdout;
    let history = '';
    for (const id of imageIds) history += (await mustDocker(['image', 'history', '--no-trunc', '--format', '{{.CreatedBy}}', id])).stdout;
    const env = (await compose(['exec', '-T', 'realtime', 'sh', '-c', 'cat /proc/1/environ /proc/self/environ | tr "\\0" "\\n"'])).stdout;
    for (const s of secrets) {
      assert.ok(!inspect.includes(s), 'a secret is in docker inspect (containers)');
      assert.ok(!imageInspect.includes(s), 'a secret is in docker image inspect');
      assert.ok(!history.includes(s), 'a secret is in an image layer command');
      assert.ok(!env.includes(s), 'a secret is in a replica\'s environment');
    }
    assert.match(env, /AUTH_PUBLIC_KEY_FILE=\/run\/secrets\/auth_public_key/);
    assert.doesNotMatch(env, /AUTH_DEMO_LOGIN|AUTH_SECRET/);
    // Only the public key is mounted: the signing key stays with the identity provider.
    const mounted = await compose(['exec', '-T', 'realtime', 'sh', '-c', 'ls /run/secrets']);
    assert.deepEqual(mounted.stdout.trim().split('\n').sort(), ['auth_public_key', 'mongo_url', 'redis_password']);
    // The service image's files: no secret, no CA bundle from the build.
    const files = await compose(['exec', '-T', 'realtime', 'sh', '-c', 'ls /app; test ! -e /app/ca.crt']);
    assert.equal(files.code, 0, files.stdout + files.stderr);
  });

  it('has no admin UI until admin-ui.yml turns it on; then both replicas show in it, behind its password', async () => {
    const password = fs.readFileSync(path.join(dirs.secrets, 'admin_ui_password'), 'utf8').trim();
    const basic = (p: string) => ({ authorization: `Basic ${Buffer.from(`admin:${p}`).toString('base64')}` });
    assert.equal((await request(`${https}/admin/?cid=x`, { ca, headers: basic(password) })).status, 404, 'the admin UI is on without admin-ui.yml');
    const withUi = (args: string[]) => docker(['compose', '-p', PROJECT, '-f', path.join(PROD, 'compose.yml'), '-f', path.join(PROD, 'admin-ui.yml'), ...args], { env });
    const up = await withUi(['up', '-d', '--wait', '--wait-timeout', '180', '--scale', 'realtime=2']);
    assert.equal(up.code, 0, `compose up with admin-ui.yml failed:\n${(up.stdout + up.stderr).split('\n').slice(-30).join('\n')}`);
    const routed = await exec(path.join(PROD, 'route.sh'), [PROJECT], { env });
    assert.equal(routed.code, 0, routed.stdout + routed.stderr);
    await routingSettled(https, ca, 2);
    assert.equal((await request(`${https}/admin/?cid=x`, { ca })).status, 401);
    assert.equal((await request(`${https}/admin/?cid=x`, { ca, headers: basic('not-the-password') })).status, 401);
    const page = await request(`${https}/admin/?cid=x`, { ca, headers: basic(password) });
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /(href|src)="(https?:)?\/\//, 'the page loads from another host');
    // The UI's socket over wss:// on one replica hears both, in production mode (counts only).
    const admin = io(`${https}/admin`, { auth: { username: 'admin', password }, query: { cid: 'x' }, transports: ['websocket'], reconnection: false, ca });
    try {
      const servers = new Set<string>();
      let features: string[] = [];
      admin.on('server_stats', (s: { serverId: string }) => servers.add(s.serverId));
      admin.on('config', (c: { supportedFeatures: string[] }) => (features = c.supportedFeatures));
      const deadline = Date.now() + 20_000;
      while (servers.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      assert.equal(servers.size, 2, `stats from ${[...servers].join(', ') || 'no replica'}`);
      assert.ok(features.length > 0 && !features.includes('ALL_EVENTS'), `features ${features.join(', ')}: production mode shows no events`);
    } finally {
      admin.close();
    }
  });
});

// The same stack with deploy/production/redis-tls.yml: Redis only on TLS,
// the replicas on rediss:// trusting Redis' certificate explicitly.
describe('production compose with Redis over TLS (redis-tls.yml, rediss://)', { timeout: 20 * 60_000 }, () => {
  const project = `sbprodtls${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-prodtls-'));
  const files = ['-f', path.join(PROD, 'compose.yml'), '-f', path.join(PROD, 'redis-tls.yml')];
  let tenv: NodeJS.ProcessEnv = {};
  let url = '';
  let tca = '';
  const tls = (args: string[]) => docker(['compose', '-p', project, ...files, ...args], { env: tenv });
  const opened: Client[] = [];

  before(async () => {
    const images = await readyImages();
    const httpsPort = await freePort();
    tenv = {
      ...process.env,
      ...images,
      SB_BIND: '127.0.0.1',
      SB_HTTPS_PORT: String(httpsPort),
      SB_HTTP_PORT: String(await freePort()),
      TLS_DIR: path.join(dir, 'certs'),
      TLS_CERT_FILE: path.join(dir, 'certs/tls.crt'),
      TLS_KEY_FILE: path.join(dir, 'certs/tls.key'),
      SB_SECRETS_DIR: path.join(dir, 'secrets'),
      SB_NGINX_UPSTREAM_DIR: path.join(dir, 'upstream'),
      MONGO_AUTH: images.MONGO_IMAGE.startsWith('switchboard/') ? '0' : '1',
      ...IDP,
    };
    url = `https://localhost:${httpsPort}`;
    const made = await exec(path.join(PROD, 'make-secrets.sh'), [], { env: tenv });
    assert.equal(made.code, 0, made.stdout + made.stderr);
    tca = fs.readFileSync(tenv.TLS_CERT_FILE!, 'utf8');
    const up = await tls(['up', '-d', '--wait', '--wait-timeout', '180', '--scale', 'realtime=2']);
    assert.equal(up.code, 0, `compose up failed:\n${(up.stdout + up.stderr).split('\n').slice(-30).join('\n')}`);
    const routed = await exec(path.join(PROD, 'route.sh'), [project], { env: tenv });
    assert.equal(routed.code, 0, routed.stdout + routed.stderr);
    await routingSettled(url, tca, 2);
  });

  after(async () => {
    for (const c of opened) c.socket.disconnect();
    const down = await tls(['down', '--volumes', '--remove-orphans', '--timeout', '20']);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(down.code, 0, down.stderr);
  });

  it('the replicas use rediss:// and report Redis connected', async () => {
    const env = (await tls(['exec', '-T', 'realtime', 'sh', '-c', 'tr "\\0" "\\n" < /proc/1/environ'])).stdout;
    assert.match(env, /REDIS_URL=rediss:\/\/redis:6379/);
    const [cidA, , cidB] = await cidsOnTwoReplicas(url, tca, 'tls');
    for (const cid of [cidA, cidB]) {
      const h = (await request(`${url}/health?cid=${cid}`, { ca: tca })).json<{ status: string; services: { redis: string } }>();
      assert.equal(h.services.redis, 'connected');
      assert.equal(h.status, 'ok');
    }
  });

  it('Redis refuses plain-text clients', async () => {
    const r = await tls(['exec', '-T', 'redis', 'sh', '-c', 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli --no-auth-warning ping']);
    assert.doesNotMatch(r.stdout, /PONG/);
  });

  it('chats across two replicas through the TLS Redis adapter', async () => {
    const [cidA, replicaA, cidB] = await cidsOnTwoReplicas(url, tca, 'tls');
    const alice = await connect(url, 'tls-alice', cidA, tca, await signedToken('tls-alice', tenv));
    const bob = await connect(url, 'tls-bob', cidB, tca, await signedToken('tls-bob', tenv));
    opened.push(alice, bob);
    await join(alice, 'tls');
    await join(bob, 'tls');
    assert.equal((await exchange(alice, bob, 'tls', 'over rediss')).instance, replicaA);
  });
});
