/**
 * The wire contract of the service (docs/protocol.md): event maps, payload
 * schemas, the shapes clients receive, error codes and room names. Imports
 * nothing but zod, so clients and other services can share it.
 */
export * from './dispatch-schemas';
export * from './errors';
export * from './events';
export * from './limits';
export * from './rooms';
export * from './schemas';
export * from './shapes';
