/** The longest piece of outside text (a key path, a validator's message) a reason or log line carries. */
export const MAX_QUOTED_LENGTH = 200;

const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INDEX = /^(0|[1-9][0-9]{0,8})$/;

/**
 * Text that came from outside (stored keys, a validator's message), made safe for one log line: control
 * characters, line and paragraph separators escaped as JSON escapes them, cut to `max` characters.
 */
export function escapedText(text: string, max = MAX_QUOTED_LENGTH): string {
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => {
    const short = SHORT_ESCAPES[char];
    return short ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/**
 * A key path as a reader can tell where it starts and ends: identifiers as `a.b`, array indexes as `[0]`, any
 * other key quoted and escaped as JSON does (`["a\nb"]`), the whole cut to `MAX_QUOTED_LENGTH` characters.
 */
export function quotedKeyPath(parts: readonly string[]): string {
  let path = '';
  for (const part of parts) {
    if (IDENTIFIER.test(part)) path += path === '' ? part : `.${part}`;
    else if (INDEX.test(part) && path !== '') path += `[${part}]`;
    else path += `[${JSON.stringify(part)}]`;
    if (path.length > MAX_QUOTED_LENGTH) break;
  }
  return escapedText(path);
}

/**
 * An error, for a log line. A server's refusal is given by its name and code only: its message may echo the
 * document it refused (stored values, user-chosen keys). Other messages are escaped and capped.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return escapedText(String(error));
  const { code, codeName } = error as { code?: unknown; codeName?: unknown };
  if (error.name.startsWith('MongoServer') || error.name.startsWith('MongoBulkWrite') || typeof code === 'number') {
    const name = typeof codeName === 'string' ? ` ${escapedText(codeName, 60)}` : '';
    return `${error.name}${typeof code === 'number' ? ` code ${code}` : ''}${name}`;
  }
  return escapedText(error.message);
}
