// Jest globalTeardown: a run whose tests are over but whose process does not
// exit within EXIT_GRACE_MS fails, naming what keeps the event loop alive.
// Jest itself only warns ("Jest did not exit one second after the test run
// has completed") and then waits for ever, which in CI is a run past its time
// limit. The timer is unref'd, so it never holds the process up itself: it
// fires only when something else does.
const EXIT_GRACE_MS = Number(process.env.JEST_EXIT_GRACE_MS || 60_000);

/** Sockets and child processes, with where they lead (Node lists timers only by kind: see describeTimers). */
function describeHandles() {
  const stdio = new Set([process.stdin, process.stdout, process.stderr]);
  const lines = [];
  for (const handle of process._getActiveHandles()) {
    if (stdio.has(handle)) continue;
    const kind = handle?.constructor?.name ?? typeof handle;
    if (kind === 'Socket') lines.push(`Socket to ${handle.remoteAddress ?? '?'}:${handle.remotePort ?? '?'}`);
    else if (kind === 'ChildProcess') lines.push(`ChildProcess pid ${handle.pid} (${handle.spawnfile})`);
    else lines.push(kind);
  }
  return lines;
}

/** Where each timer still holding the process was created (jest-timer-tracker.cjs), a few frames each. */
function describeTimers() {
  const lines = [];
  for (const { timer, origin } of process.sbLiveTimers?.values() ?? []) {
    const live = timer.deref();
    if (!live || (typeof live.hasRef === 'function' && !live.hasRef())) continue;
    const frames = String(origin.stack)
      .split('\n')
      .slice(1)
      .map((frame) => frame.trim())
      .filter((frame) => !frame.includes('(node:') && !frame.includes('jest-timer-tracker'))
      .slice(0, 6);
    lines.push(`Timeout (${live._idleTimeout} ms${live._repeat ? ', repeating' : ''}) created at\n      ${frames.join('\n      ')}`);
  }
  return lines;
}

module.exports = async function exitWatchdog() {
  const timer = setTimeout(() => {
    const handles = [...describeHandles(), ...describeTimers()];
    const resources = process.getActiveResourcesInfo().filter((kind) => kind !== 'PipeWrap' && kind !== 'TTYWrap');
    process.stderr.write(
      `\nThe test run ended ${EXIT_GRACE_MS / 1000} s ago but the process has not exited: something keeps the event loop alive.\n` +
        `Active resources: ${resources.join(', ') || 'none'}\n` +
        (handles.length ? handles.map((line) => `  - ${line}`).join('\n') + '\n' : '') +
        'Close it where it is created (afterAll).\n',
    );
    process.exit(1);
  }, EXIT_GRACE_MS);
  timer.unref();
};
