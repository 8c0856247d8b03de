// A replica in host network mode (LT_NETWORK=host, compose/host-network.*.yml):
// with `network_mode: host` every replica of a scaled service shares the
// host's ports, so each needs a port of its own. This launcher claims the
// lowest free slot i (an abstract unix socket named after the project: such
// names live in the network namespace, which host-network containers share,
// and are freed when the holder exits), then runs the replica with
// PORT = LT_HOST_PORT_BASE + i, METRICS_PORT = LT_HOST_METRICS_BASE + i and,
// unless set, INSTANCE_NAME = the container's short id (the hostname every
// host-network container shares would not tell them apart). It writes
// "<port> <metrics port>" to /tmp/sb-host-port, where the stack CLI's
// upstream and the load test's sampler read it, forwards SIGTERM/SIGINT and
// exits with the replica. `--health`: the container's healthcheck.
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const { spawn } = require('node:child_process');

const PORT_FILE = '/tmp/sb-host-port';

if (process.argv[2] === '--health') {
  let port = '';
  try {
    port = fs.readFileSync(PORT_FILE, 'utf8').split(' ')[0];
  } catch {
    process.exit(1); // no slot claimed yet: not healthy
  }
  fetch(`http://127.0.0.1:${port}/health`).then(
    (r) => process.exit(r.status === 200 ? 0 : 1),
    () => process.exit(1),
  );
} else main();

function claim(name) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ path: `\0${name}` }, () => resolve(server));
  });
}

function containerId() {
  try {
    const m = /\/containers\/([0-9a-f]{64})\/hostname/.exec(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    return m ? m[1].slice(0, 12) : undefined;
  } catch {
    return undefined;
  }
}

async function main() {
  const base = Number(process.env.LT_HOST_PORT_BASE);
  const metricsBase = Number(process.env.LT_HOST_METRICS_BASE);
  const project = process.env.LT_HOST_CLAIM;
  const cmd = process.argv.slice(2);
  if (!base || !metricsBase || !project || !cmd.length) {
    console.error('host-replica: set LT_HOST_PORT_BASE, LT_HOST_METRICS_BASE, LT_HOST_CLAIM and give the replica command');
    process.exit(2);
  }
  for (let i = 0; i < 50; i++) {
    const holder = await claim(`sb-host-${project}-${i}`);
    if (!holder) continue;
    const port = base + i;
    const metricsPort = metricsBase + i;
    fs.writeFileSync(PORT_FILE, `${port} ${metricsPort}\n`);
    const env = { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), INSTANCE_NAME: process.env.INSTANCE_NAME || containerId() || `replica-${i}` };
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
    for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => child.kill(sig));
    child.on('exit', (code, signal) => {
      holder.close();
      process.exit(code ?? (signal ? 1 : 0));
    });
    return;
  }
  console.error(`host-replica: no free slot for project ${project}`);
  process.exit(1);
}
