export * from './decorators/index.js';
export * from './interceptors/index.js';
export {
  CsrfTokenError,
  RecentAuthRequiredError,
  SessionCookieError,
  SessionDataError,
  SessionEndedError,
  SessionNotAvailableError,
  SessionOptionsError,
  SessionStoreError,
} from './session.errors.js';
export {
  SESSION_EVENT_PREFIX,
  type SessionEvent,
  type SessionEventReason,
  type SessionEventType,
} from './session.events.js';
export { CsrfGuard } from './session.csrf.guard.js';
export { AuthGuard } from './session.guard.js';
export { RecentAuthGuard } from './session.recent-auth.guard.js';
export { SessionBusyError } from './store/user-lock.js';
export { SessionModule } from './session.module.js';
export type { ExcludedRoute } from './session.exclusion.js';
export type { SessionModuleExtras } from './session.module-definition.js';
export type {
  AutoRemoveMode,
  CsrfOptions,
  RememberMeOptions,
  SessionCookieOptions,
  SessionLimitPolicy,
  SessionModuleOptions,
} from './session.options.js';
export type { SessionSchema } from './session.schema.js';
export {
  SessionService,
  type DestroyAllOptions,
  type LoginOptions,
  type RegenerateOptions,
} from './session.service.js';
export type {
  AppSessionData,
  SessionInfo,
  SessionKey,
  SessionUserId,
  SessionValue,
  UserSession,
} from './session.types.js';
export { SessionSockets, type SocketConnection } from './transports/socket-sessions.service.js';
export { SocketSessionRotationError } from './transports/socket-session.errors.js';
