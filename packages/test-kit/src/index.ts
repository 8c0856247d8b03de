/**
 * Helpers the test suites share (the service's integration tests, e2e, the
 * load test, the stack and deploy checks). Node built-ins only.
 */
export { freePort, freePorts } from './net';
export { sleep, waitFor } from './wait';
export { login, type LoginOptions, type Session } from './login';
