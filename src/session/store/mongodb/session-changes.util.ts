/**
 * The serialized form of each top-level field of a session, as last loaded or written: what a save compares
 * against, so that it writes only the fields this request changed (in-place changes of a value included).
 */
export type FieldSnapshot = Map<string, string>;

/** The fields of a session to write, as `$set`/`$unset` paths under `session.`, and the snapshot after them. */
export interface FieldChanges {
  set: Record<string, unknown>;
  unset: Record<string, ''>;
  snapshot: FieldSnapshot;
}

/**
 * A field that changes with every request and is written only beside a real change: express-session's
 * cookie (its `expires` slides each time it is touched).
 */
const PASSIVE_FIELD = 'cookie';

/** The snapshot of `fields`; `undefined` values count as absent. */
export function snapshotOf(fields: Record<string, unknown>): FieldSnapshot {
  const snapshot: FieldSnapshot = new Map();
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value !== undefined) snapshot.set(key, JSON.stringify(value));
  }
  return snapshot;
}

/**
 * What changed in `fields` since `before`: each top-level field whose serialized form differs is set whole,
 * each field gone is unset. `undefined` when nothing but the passive field changed: nothing to write. The
 * keys are those of stored data, already safe as field names (no `.`, no leading `$`: `applicationData`).
 */
export function changesSince(before: FieldSnapshot, fields: Record<string, unknown>): FieldChanges | undefined {
  const set: Record<string, unknown> = {};
  const unset: Record<string, ''> = {};
  const snapshot: FieldSnapshot = new Map();
  let changed = false;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value === undefined) continue;
    const serialized = JSON.stringify(value);
    snapshot.set(key, serialized);
    if (before.get(key) === serialized) continue;
    set[`session.${key}`] = value;
    if (key !== PASSIVE_FIELD) changed = true;
  }
  for (const key of before.keys()) {
    if (snapshot.has(key)) continue;
    unset[`session.${key}`] = '';
    changed = true;
  }
  return changed ? { set, unset, snapshot } : undefined;
}

/**
 * The data fields other requests stored since `before` was loaded (`stored` is the document's data as it is
 * now) that this request left as loaded (`own` is its data now), among those `carried` selects: what a
 * rotation must add to the new document so that a write answered meanwhile is not lost with the old one.
 * `undefined` when there is none.
 */
export function concurrentChanges(
  before: FieldSnapshot,
  stored: Record<string, unknown>,
  own: Record<string, unknown>,
  carried: (key: string) => boolean,
): Omit<FieldChanges, 'snapshot'> | undefined {
  const set: Record<string, unknown> = {};
  const unset: Record<string, ''> = {};
  let changed = false;
  for (const key of new Set([...Object.keys(stored), ...Object.keys(own)])) {
    if (!carried(key)) continue;
    const loaded = before.get(key);
    const storedNow = stored[key] === undefined ? undefined : JSON.stringify(stored[key]);
    const ownNow = own[key] === undefined ? undefined : JSON.stringify(own[key]);
    if (storedNow === loaded || ownNow !== loaded) continue; // nobody else changed it, or this request did
    if (storedNow === undefined) unset[`session.${key}`] = '';
    else set[`session.${key}`] = stored[key];
    changed = true;
  }
  return changed ? { set, unset } : undefined;
}
