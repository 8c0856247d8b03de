/**
 * Dispatch: online providers and active orders on the /dispatch namespace.
 * namespace.ts (socket handlers) -> service.ts (state machine, offer timers) -> store.ts (Redis keys and Lua).
 */
export { registerDispatch, type DispatchDeps } from './namespace';
export { DispatchService, OFFER_TIMEOUT_JOB } from './service';
