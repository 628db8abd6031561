import type { AutoRemoveMode, SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { checkName, fail, positiveNumber, givenText } from './option-checks.util.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

const AUTO_REMOVE_MODES: readonly AutoRemoveMode[] = ['native', 'interval', 'disabled'];

type StoreSettings = Pick<
  ResolvedSessionOptions,
  | 'uri'
  | 'client'
  | 'dbName'
  | 'collectionName'
  | 'autoRemove'
  | 'autoRemoveInterval'
  | 'storeTimeoutMs'
  | 'writeConcern'
  | 'legacyIds'
>;

/** The MongoDB options: where the sessions live, how expired ones go, how long a call may take. */
export function resolveStoreOptions(options: SessionModuleOptions): StoreSettings {
  if (options.uri === undefined && options.client === undefined) {
    fail('uri', 'is required unless `client` is given', "Pass uri: 'mongodb://…' or client: an existing MongoClient.");
  }
  if (options.uri !== undefined && options.client !== undefined) {
    fail('uri', 'and `client` are both given', 'Pass one of them.');
  }
  if (options.uri !== undefined && (typeof options.uri !== 'string' || !/^mongodb(\+srv)?:\/\//.test(options.uri))) {
    fail(
      'uri',
      `must be a MongoDB connection string, got ${givenText(options.uri)}`,
      "It starts with 'mongodb://' or 'mongodb+srv://'.",
    );
  }
  if (
    options.client !== undefined &&
    (typeof options.client !== 'object' || typeof options.client?.db !== 'function')
  ) {
    fail('client', 'must be a MongoClient from the mongodb driver', 'Pass new MongoClient(uri), or use `uri`.');
  }
  checkName('dbName', options.dbName);
  checkName('collectionName', options.collectionName);

  const autoRemove = options.autoRemove ?? 'native';
  if (!AUTO_REMOVE_MODES.includes(autoRemove)) {
    fail(
      'autoRemove',
      `must be one of ${AUTO_REMOVE_MODES.join(', ')}, got ${givenText(autoRemove)}`,
      "Use 'interval' on servers without TTL indexes (FerretDB 1.x).",
    );
  }
  const writeConcern = options.writeConcern ?? { w: 'majority' };
  if (typeof writeConcern !== 'object' || writeConcern === null || Array.isArray(writeConcern)) {
    fail(
      'writeConcern',
      `must be a write concern object, got ${givenText(writeConcern)}`,
      "Default: { w: 'majority' }.",
    );
  }
  const legacyIds = options.legacyIds ?? true;
  if (typeof legacyIds !== 'boolean') {
    fail(
      'legacyIds',
      `must be true or false, got ${JSON.stringify(legacyIds)}`,
      'Default: true (sessions stored by connect-mongo before the switch keep working).',
    );
  }
  return {
    uri: options.uri,
    client: options.client,
    dbName: options.dbName,
    collectionName: options.collectionName ?? 'sessions',
    autoRemove,
    autoRemoveInterval: positiveNumber('autoRemoveInterval', options.autoRemoveInterval, 10, 'minutes'),
    storeTimeoutMs: positiveNumber('storeTimeoutMs', options.storeTimeoutMs, 5_000, 'milliseconds'),
    writeConcern,
    legacyIds,
  };
}
