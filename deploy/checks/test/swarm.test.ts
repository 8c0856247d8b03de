// The swarm stack (deploy/swarm/stack.yml) on a single-node swarm made for
// this test: `docker stack deploy` brings it up over TLS, a message crosses
// replicas, `docker service update --force` of the realtime service (a
// rolling, start-first replacement of every task) loses no persisted
// message and the stack serves again afterwards. The swarm is left (and its
// docker_gwbridge network removed) in teardown, also after a failure, so the
// engine is left as it was found. An engine already in a swarm is used as is
// and not left.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cidsOnTwoReplicas, connect, exchange, join, routingSettled, signedToken, type Client } from '../src/chat';
import { docker, eventually, exec, freePort, mustDocker, readyImages, request, sleep } from '../src/docker';
import { ROOT } from '../src/sources';

const STACK = `sbswarm${process.pid}`;
const FILE = path.join(ROOT, 'deploy/swarm/stack.yml');
/** Written while a swarm this test made is active, so an interrupted run's swarm is recognised and left. */
const MARKER = path.join(ROOT, '.stack/swarm-made-by-deploy-checks');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-swarm-'));
let env: NodeJS.ProcessEnv = {};
let https = '';
let ca = '';
let weInitialised = false;
let gwbridgeBefore = true;
const clients: Client[] = [];
let persisted: { id: string; room: string } | undefined;

const swarmState = async () => (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
const networkExists = async (name: string) => (await docker(['network', 'inspect', name])).code === 0;

async function teardown(): Promise<void> {
  for (const c of clients) c.socket.disconnect();
  await docker(['stack', 'rm', STACK]);
  for (let i = 0; i < 90; i++) {
    const left = (await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${STACK}`])).stdout.trim();
    if (!left) break;
    await sleep(1000);
  }
  const vols = (await docker(['volume', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${STACK}`])).stdout.trim().split('\n').filter(Boolean);
  if (vols.length) await docker(['volume', 'rm', ...vols]);
  if (weInitialised) {
    await docker(['swarm', 'leave', '--force']);
    fs.rmSync(MARKER, { force: true });
    // Leaving keeps the bridge swarm made for its containers' outside traffic.
    if (!gwbridgeBefore) {
      for (let i = 0; i < 10 && (await networkExists('docker_gwbridge')); i++) {
        await docker(['network', 'rm', 'docker_gwbridge']);
        if (await networkExists('docker_gwbridge')) await sleep(1000);
      }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function realtimeTasksRunning(n: number): Promise<boolean> {
  const r = await docker(['service', 'ps', `${STACK}_realtime`, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']);
  const states = r.stdout.trim().split('\n').filter(Boolean);
  return states.length === n && states.every((s) => s.startsWith('Running'));
}

/** What a failing run needs to be understood: tasks, nginx's log and upstream. */
async function diagnostics(): Promise<void> {
  const out = (title: string, text: string) => process.stderr.write(`--- ${title}\n${text.trim()}\n`);
  out('tasks', (await docker(['stack', 'ps', STACK, '--no-trunc', '--format', '{{.Name}} {{.CurrentState}} {{.Error}}'])).stdout);
  out('nginx log', (await docker(['service', 'logs', '--raw', '--tail', '40', `${STACK}_nginx`])).stdout);
  out('realtime log', (await docker(['service', 'logs', '--raw', '--tail', '40', `${STACK}_realtime`])).stdout);
  const nginx = (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_nginx`])).stdout.trim().split('\n')[0];
  if (nginx) out('nginx upstream', (await docker(['exec', nginx, 'sh', '-c', 'cat /etc/nginx/switchboard-upstream/realtime.conf; getent ahostsv4 tasks.realtime'])).stdout);
}

/** Two client ids on two replicas, both answering /health with status ok. */
async function bothOk(prefix: string): Promise<[string, string, string, string] | undefined> {
  const found = await cidsOnTwoReplicas(https, ca, prefix);
  for (const cid of [found[0], found[2]]) {
    const r = await request(`${https}/health?cid=${cid}`, { ca, timeoutMs: 3000 });
    if (r.status !== 200 || r.json().status !== 'ok') return undefined;
  }
  return found;
}

describe('Docker Swarm: docker stack deploy of deploy/swarm/stack.yml', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    const images = await readyImages();
    const state = await swarmState();
    gwbridgeBefore = await networkExists('docker_gwbridge');
    if (state === 'active' && fs.existsSync(MARKER)) {
      // A run of this test that was killed before its teardown: its swarm is ours to leave.
      process.stderr.write(`swarm left active by an interrupted run (${MARKER}): reusing it, leaving it afterwards\n`);
      for (const stack of (await docker(['stack', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')) {
        if (/^sbswarm\d+$/.test(stack)) await docker(['stack', 'rm', stack]);
      }
      weInitialised = true;
      gwbridgeBefore = fs.readFileSync(MARKER, 'utf8').includes('gwbridge-before');
    } else if (state === 'inactive') {
      await mustDocker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      weInitialised = true;
      fs.mkdirSync(path.dirname(MARKER), { recursive: true });
      fs.writeFileSync(MARKER, `${process.pid}${gwbridgeBefore ? ' gwbridge-before' : ''}\n`);
    } else {
      assert.equal(state, 'active', `the engine's swarm state is "${state}"`);
    }
    const [httpsPort, httpPort] = [await freePort(), await freePort()];
    env = {
      ...process.env,
      ...images,
      REPLICAS: '2',
      SB_HTTPS_PORT: String(httpsPort),
      SB_HTTP_PORT: String(httpPort),
      // The routing mesh (ingress) does not forward on these machines (no IPVS
      // in the ingress sandbox); host mode publishes on the node itself.
      SB_PUBLISH_MODE: process.env.SB_PUBLISH_MODE || 'host',
      TLS_DIR: path.join(tmp, 'certs'),
      TLS_CERT_FILE: path.join(tmp, 'certs/tls.crt'),
      TLS_KEY_FILE: path.join(tmp, 'certs/tls.key'),
      SB_SECRETS_DIR: path.join(tmp, 'secrets'),
      SB_NGINX_UPSTREAM_DIR: path.join(tmp, 'upstream'),
      MONGO_AUTH: images.MONGO_IMAGE.startsWith('switchboard/') ? '0' : '1',
      // The identity provider the replicas trust: tokens signed with make certs' key pair (sign-token.sh).
      AUTH_ISSUER: 'https://idp.checks.example/realms/switchboard',
      AUTH_AUDIENCE: 'switchboard-realtime',
    };
    https = `https://localhost:${httpsPort}`;
    const made = await exec(path.join(ROOT, 'deploy/production/make-secrets.sh'), [], { env });
    assert.equal(made.code, 0, made.stdout + made.stderr);
    ca = fs.readFileSync(env.TLS_CERT_FILE!, 'utf8');
    await mustDocker(['stack', 'deploy', '--prune', '-c', FILE, STACK], { env });
    await eventually('2 realtime tasks running', async () => ((await realtimeTasksRunning(2)) ? true : undefined), 180_000, 2000);
    // Swarm has no depends_on: replicas may start before Redis and MongoDB
    // and answer `degraded` until they connect. Wait for `ok` on both.
    try {
      await eventually('both replicas ok through nginx', () => bothOk('swarm'), 180_000, 2000);
    } catch (err) {
      await diagnostics();
      throw err;
    }
  });

  after(teardown, { timeout: 5 * 60_000 });

  it('serves over TLS and redirects HTTP', async () => {
    const r = await request(`${https.replace('https://localhost', 'http://127.0.0.1').replace(env.SB_HTTPS_PORT!, env.SB_HTTP_PORT!)}/health`);
    assert.equal(r.status, 301);
    assert.equal((await request(`${https}/health`, { ca })).json().status, 'ok');
  });

  it('chats across replicas and persists the message', async () => {
    await routingSettled(https, ca, 2);
    const [cidA, replicaA, cidB] = await cidsOnTwoReplicas(https, ca, 'swarm');
    const alice = await connect(https, 'swarm-alice', cidA, ca, await signedToken('swarm-alice', env));
    const bob = await connect(https, 'swarm-bob', cidB, ca, await signedToken('swarm-bob', env));
    clients.push(alice, bob);
    await join(alice, 'swarm');
    await join(bob, 'swarm');
    const m = await exchange(alice, bob, 'swarm', 'hello from the swarm');
    assert.equal(m.instance, replicaA);
    persisted = { id: m.id, room: 'swarm' };
    for (const c of clients) c.socket.disconnect();
    clients.length = 0;
  });

  it('survives `docker service update` of the realtime service without losing the persisted message', async () => {
    assert.ok(persisted, 'the previous test stored a message');
    const before = (await mustDocker(['service', 'ps', `${STACK}_realtime`, '-q', '--filter', 'desired-state=running'])).stdout.trim().split('\n').sort();
    await mustDocker(['service', 'update', '--force', '--detach=false', '--quiet', `${STACK}_realtime`], { timeoutMs: 8 * 60_000 });
    const afterIds = (await mustDocker(['service', 'ps', `${STACK}_realtime`, '-q', '--filter', 'desired-state=running'])).stdout.trim().split('\n').sort();
    assert.equal(afterIds.length, 2);
    for (const id of afterIds) assert.ok(!before.includes(id), 'every task was replaced');
    // nginx follows the new task addresses by itself (nginx-entrypoint.sh).
    await eventually('both new replicas ok through nginx', () => bothOk('swarm2'), 90_000, 2000);
    // The entrypoint reloads nginx when the task addresses change: wait until it routes consistently.
    await routingSettled(https, ca, 2, 60_000);
    const [cidA, , cidB] = await cidsOnTwoReplicas(https, ca, 'swarm3');
    // Read as alice: room history is for the room's members, and her membership outlives her sockets and the update.
    const token = await signedToken('swarm-alice', env);
    const history = await request(`${https}/api/rooms/${persisted!.room}/messages?limit=50&cid=swarm-alice`, { ca, headers: { authorization: `Bearer ${token}` } });
    assert.equal(history.status, 200, history.text);
    const ids = history.json<{ messages: { id: string }[] }>().messages.map((m) => m.id);
    assert.ok(ids.includes(persisted!.id), `message ${persisted!.id} is gone after the update`);
    const alice = await connect(https, 'swarm-alice', cidA, ca, await signedToken('swarm-alice', env));
    const bob = await connect(https, 'swarm-bob', cidB, ca, await signedToken('swarm-bob', env));
    clients.push(alice, bob);
    await join(alice, 'swarm');
    await join(bob, 'swarm');
    await exchange(bob, alice, 'swarm', 'still here after the update');
  });
});
