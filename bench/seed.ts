import { createHash, randomBytes } from 'node:crypto';
import { sign } from 'cookie-signature';
import type { Db, Document } from 'mongodb';
import { BENCH_SETTINGS } from './setups/settings.js';
import type { SetupProcess } from './processes.js';

/** A user of the benchmark's sessions. */
export function benchUser(index: number): { userId: string; username: string; role: 'member' } {
  return { userId: `u-${index}`, username: `user${index}`, role: 'member' };
}

/** A new session id, as express-session makes them (24 random bytes, base64url). */
export function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}

/** The `Cookie` header value for session `id`, signed as express-session signs it. */
export function cookieFor(id: string): string {
  return `${BENCH_SETTINGS.cookieName}=${encodeURIComponent(`s:${sign(id, BENCH_SETTINGS.secret)}`)}`;
}

/**
 * Logs in once through the setup's own login route and returns the session document that login wrote:
 * every setup's sessions are then clones of a document its own code produced.
 */
export async function loginTemplate(setup: SetupProcess, db: Db): Promise<Document> {
  const response = await fetch(`${setup.url}${setup.spec.login.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(setup.spec.login.body ?? {}),
  });
  // express-session sends the body before its save completes and ends the response after it.
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${setup.spec.name}: login answered ${response.status}: ${body}`);
  const cookie = response.headers.getSetCookie().find((line) => line.startsWith(`${BENCH_SETTINGS.cookieName}=`));
  if (!cookie) throw new Error(`${setup.spec.name}: login set no session cookie`);
  const pair = cookie.split(';')[0];
  const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1));
  const id = value.slice(2, value.lastIndexOf('.'));
  // connect-mongo stores a session under its id; ours under the SHA-256 of it.
  const keys = [id, hashedKey(id)];
  const template = await db.collection('sessions').findOne({ _id: { $in: keys } as never });
  if (!template) throw new Error(`${setup.spec.name}: no session document ${id} after login`);
  await db.collection('sessions').deleteOne({ _id: template._id });
  return { ...template, hashedIds: (template._id as unknown) !== id };
}

/** The key our store files a session id under. */
function hashedKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** A copy of `template` with a new id, belonging to `user`, fresh as if it had just logged in. */
export function cloneSession(template: Document, id: string, user: object, now = new Date()): Document {
  const { hashedIds, ...document } = template;
  const clone: Document = {
    ...document,
    _id: hashedIds ? hashedKey(id) : id,
    session: { ...(template.session as Document), ...user },
  };
  clone.expires = new Date(now.getTime() + BENCH_SETTINGS.idleTimeout * 1000);
  // Each layout's own time fields (connect-mongo: lastModified; ours: createdAt, loginAt, lastSeenAt).
  for (const field of ['lastModified', 'createdAt', 'loginAt', 'lastSeenAt']) if (field in template) clone[field] = now;
  return clone;
}

/**
 * Fills the setup's sessions collection with `count` logged-in sessions of distinct users, cloned from a
 * real login, and checks that the setup serves them. Resolves to their cookies and the login's document.
 */
export async function seedSessions(
  setup: SetupProcess,
  db: Db,
  count: number,
): Promise<{ cookies: string[]; template: Document }> {
  const template = await loginTemplate(setup, db);
  const ids = Array.from({ length: count }, newSessionId);
  await db.collection('sessions').insertMany(ids.map((id, index) => cloneSession(template, id, benchUser(index))));
  const cookies = ids.map(cookieFor);
  for (const index of [0, Math.floor(count / 2), count - 1]) {
    const response = await fetch(`${setup.url}/me`, { headers: { cookie: cookies[index] } });
    const body = (await response.json()) as { userId?: string };
    if (response.status !== 200 || body.userId !== benchUser(index).userId) {
      throw new Error(
        `${setup.spec.name}: a seeded session was not served (${response.status} ${JSON.stringify(body)})`,
      );
    }
  }
  const anonymous = await fetch(`${setup.url}/me`);
  if (anonymous.status !== 401)
    throw new Error(`${setup.spec.name}: GET /me without a session answered ${anonymous.status}, not 401`);
  return { cookies, template };
}
