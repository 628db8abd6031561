import { escapedText, quotedKeyPath } from './log-text.util.js';
import type { AppSessionData } from '../interfaces/session-data.interface.js';

/**
 * The Standard Schema interface (https://standardschema.dev), implemented by zod, valibot, arktype and
 * others. Copied as its authors recommend, so that no validator library is a dependency.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a Standard Schema's `validate` returns. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: readonly {
        readonly message: string;
        readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
      }[];
    };

/**
 * Validates stored session data when it is loaded: a Standard Schema validator (zod, valibot, arktype…) or
 * a function that returns the data or throws. It sees every stored session, anonymous ones included, without
 * express-session's `cookie`. Its output replaces the data, so defaults and transforms apply.
 */
export type SessionSchema =
  StandardSchemaV1<unknown, Partial<AppSessionData>> | ((data: unknown) => Partial<AppSessionData>);

/** The longest reason a failed validation gives (it goes into a log line and the `invalid` event). */
const MAX_REASON_LENGTH = 500;

/**
 * The outcome of validating stored data. A refusal's `reason` is safe for one log line: stored keys quoted
 * and escaped, the validator's messages escaped, the whole capped (stored keys are user-chosen text).
 */
export type SchemaVerdict = { ok: true; data: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Runs a `SessionSchema` on stored data; never throws. Synchronous when the validator is (zod, valibot and
 * most are), so that reading a session costs no extra promise.
 */
export function checkSessionData(
  schema: SessionSchema,
  data: Record<string, unknown>,
): SchemaVerdict | Promise<SchemaVerdict> {
  try {
    if (typeof schema === 'function') return accept(schema(data));
    const result = schema['~standard'].validate(data);
    return result instanceof Promise ? result.then(verdictOf, refusal) : verdictOf(result);
  } catch (error) {
    return refusal(error);
  }
}

function verdictOf(result: StandardSchemaResult<unknown>): SchemaVerdict {
  if (!result.issues) return accept(result.value);
  const reasons = result.issues.map(({ message, path }) => {
    const where = quotedKeyPath((path ?? []).map((part) => String(typeof part === 'object' ? part.key : part)));
    return where ? `${where}: ${escapedText(String(message))}` : escapedText(String(message));
  });
  return { ok: false, reason: escapedText(reasons.join('; '), MAX_REASON_LENGTH) };
}

function refusal(error: unknown): SchemaVerdict {
  return { ok: false, reason: escapedText(error instanceof Error ? error.message : String(error), MAX_REASON_LENGTH) };
}

function accept(value: unknown): SchemaVerdict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'the schema did not return an object' };
  }
  return { ok: true, data: value as Record<string, unknown> };
}
