// Finds or starts the real MongoDB wire-protocol server every test runs against (see scripts/mongo-server.mjs).
import { startMongo } from '../scripts/mongo-server.mjs';

export default async function globalSetup() {
  const server = await startMongo();
  globalThis.__MONGO_SERVER__ = server;
  process.env.MONGODB_URI = server.uri;
  if (!server.ttlIndexes) process.env.SESSION_AUTO_REMOVE = 'interval';
  process.stderr.write(`\n[tests] ${server.version} from ${server.kind}\n`);
}
