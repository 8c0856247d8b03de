// Jest globalSetup: remembers where every live timer was created, so the exit
// watchdog (jest-exit-watchdog.cjs) can name the code behind a timer that keeps
// a finished run alive. Node lists timers only as "Timeout"; an async hook sees
// each one created and destroyed, in test files and libraries alike. The stack
// is captured unformatted (cheap) and formatted only if it is ever reported.
const { createHook } = require('node:async_hooks');

module.exports = async function trackTimers() {
  if (process.sbLiveTimers) return;
  const live = new Map();
  createHook({
    init(asyncId, type, _triggerId, resource) {
      if (type !== 'Timeout') return;
      const origin = {};
      Error.captureStackTrace(origin);
      live.set(asyncId, { timer: new WeakRef(resource), origin });
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  process.sbLiveTimers = live;
};
