/**
 * Dispatch: online providers and active orders on the /dispatch namespace.
 * namespace.ts (socket handlers) -> service.ts (state machine, offer timers; transitions.ts: what each
 * script reply means) -> store.ts (Redis keys) -> scripts.ts (typed calls of the Lua scripts in lua/).
 */
export { registerDispatch, type DispatchDeps } from './namespace';
export { DispatchService, OFFER_TIMEOUT_JOB } from './service';
