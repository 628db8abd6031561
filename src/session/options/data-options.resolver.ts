import { userIdFieldProblem, userIdOf } from '../core/session-data.util.js';
import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { fail, givenText } from './option-checks.util.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

/** `maxSessionBytes` by default: 64 KiB. */
const DEFAULT_MAX_SESSION_BYTES = 65_536;
/** `maxSessionBytes` at most: 15 MiB, leaving room under MongoDB's 16 MiB for the cookie, times and device. */
const MAX_SESSION_BYTES_LIMIT = 15 * 1024 * 1024;

type DataSettings = Pick<
  ResolvedSessionOptions,
  'userIdField' | 'isAuthenticated' | 'schema' | 'maxSessionsPerUser' | 'maxSessionBytes' | 'onSessionLimit'
>;

/** What a session holds: the user-id field, the schema, the size bound, the sessions allowed per user. */
export function resolveDataOptions(options: SessionModuleOptions): DataSettings {
  const userIdField: string = options.userIdField ?? 'userId';
  const problem = userIdFieldProblem(userIdField);
  if (problem !== undefined) {
    fail(
      'userIdField',
      problem,
      "Default: 'userId'; a path such as 'passport.user' reads a nested key (segments of letters, digits and '_').",
    );
  }
  if (options.isAuthenticated !== undefined && typeof options.isAuthenticated !== 'function') {
    fail('isAuthenticated', 'must be a function (session) => boolean', 'Leave it out to test the userIdField.');
  }
  const schema = options.schema;
  if (schema !== undefined && typeof schema !== 'function' && typeof schema?.['~standard']?.validate !== 'function') {
    fail(
      'schema',
      'must be a Standard Schema validator (zod, valibot, arktype…) or a function (data) => data',
      'Pass e.g. z.object({ … }).',
    );
  }
  const maxSessionsPerUser = options.maxSessionsPerUser;
  if (maxSessionsPerUser !== undefined && (!Number.isInteger(maxSessionsPerUser) || maxSessionsPerUser < 1)) {
    fail(
      'maxSessionsPerUser',
      `must be a whole number >= 1, got ${givenText(maxSessionsPerUser)}`,
      'Leave it out for no limit.',
    );
  }
  const maxSessionBytes = options.maxSessionBytes ?? DEFAULT_MAX_SESSION_BYTES;
  if (!Number.isInteger(maxSessionBytes) || maxSessionBytes < 1024 || maxSessionBytes > MAX_SESSION_BYTES_LIMIT) {
    fail(
      'maxSessionBytes',
      `must be a whole number of bytes from 1024 to ${MAX_SESSION_BYTES_LIMIT}, got ${givenText(maxSessionBytes)}`,
      `Default: ${DEFAULT_MAX_SESSION_BYTES} (64 KiB).`,
    );
  }
  const onSessionLimit = options.onSessionLimit ?? 'evict-oldest';
  if (onSessionLimit !== 'evict-oldest' && onSessionLimit !== 'refuse') {
    fail(
      'onSessionLimit',
      `must be 'evict-oldest' or 'refuse', got ${givenText(onSessionLimit)}`,
      "Default: 'evict-oldest'.",
    );
  }
  return {
    userIdField,
    isAuthenticated: options.isAuthenticated ?? ((session) => userIdOf(session, { userIdField }) !== undefined),
    schema,
    maxSessionsPerUser,
    maxSessionBytes,
    onSessionLimit,
  };
}
