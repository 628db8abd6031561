export * from './decorators/index.js';
export * from './interceptors/index.js';
export {
  CsrfTokenError,
  RecentAuthRequiredError,
  SessionBusyError,
  SessionCookieError,
  SessionDataError,
  SessionEndedError,
  SessionMiddlewareOrderError,
  SessionNotAvailableError,
  SessionOptionsError,
  SessionStoreError,
  SessionTokenError,
  SessionUserIdError,
  SocketSessionRotationError,
} from './session.errors.js';
export {
  SESSION_EVENT_PREFIX,
  type SessionEvent,
  type SessionEventReason,
  type SessionEventType,
} from './core/session.events.js';
export { CsrfGuard } from './guards/csrf.guard.js';
export { AuthGuard } from './guards/auth.guard.js';
export { RecentAuthGuard } from './guards/recent-auth.guard.js';
export { SessionModule } from './session.module.js';
export { SESSION_STORE } from './session.constants.js';
export type { ExcludedRoute } from './interfaces/session-options.interface.js';
export type { SessionModuleExtras } from './session.module-definition.js';
export type {
  AutoRemoveMode,
  CsrfOptions,
  IdSource,
  RememberMeOptions,
  SessionCookieOptions,
  SessionLimitPolicy,
  SessionModuleOptions,
} from './interfaces/session-options.interface.js';
export type { SessionSchema } from './core/session.schema.js';
export { SessionService } from './core/session.service.js';
export type {
  DestroyAllOptions,
  LoginOptions,
  RegenerateOptions,
} from './interfaces/session-service-options.interface.js';
export type {
  AppSessionData,
  SessionInfo,
  SessionKey,
  SessionUserId,
  SessionValue,
  UserSession,
} from './interfaces/session-data.interface.js';
export { SessionSockets, type SocketConnection } from './sockets/session-sockets.service.js';
