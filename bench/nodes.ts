import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A Node binary the setups run on. */
export interface NodeBinary {
  path: string;
  /** `process.version` of that binary, e.g. `v24.21.0`. */
  version: string;
  major: number;
}

/**
 * The Node binaries of `BENCH_NODE` (comma-separated paths), by default this process's Node and the current
 * LTS (`scripts/node-lts.sh`, which fetches it once). Each is asked its version; two paths of one version
 * are run once.
 */
export function benchNodes(list = process.env.BENCH_NODE): NodeBinary[] {
  const paths = list
    ? list
        .split(',')
        .map((path) => path.trim())
        .filter(Boolean)
    : [process.execPath, ltsNode()];
  if (!paths.length) throw new Error('BENCH_NODE lists no Node binary');
  const nodes: NodeBinary[] = [];
  for (const path of paths) {
    let version: string;
    try {
      version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    } catch (error) {
      throw new Error(`BENCH_NODE: ${path} does not run: ${(error as Error).message.split('\n')[0]}`);
    }
    if (!/^v\d+\./.test(version))
      throw new Error(`BENCH_NODE: ${path} answered ${JSON.stringify(version)} to --version`);
    if (nodes.some((node) => node.version === version)) continue;
    nodes.push({ path: realpathSync(path), version, major: Number(version.slice(1).split('.')[0]) });
  }
  return nodes;
}

/** The path `scripts/node-lts.sh` prints. */
function ltsNode(): string {
  const script = fileURLToPath(new URL('../../scripts/node-lts.sh', import.meta.url));
  try {
    return execFileSync(script, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  } catch (error) {
    throw new Error(
      `scripts/node-lts.sh could not provide the LTS Node (${(error as Error).message.split('\n')[0]}); ` +
        `set BENCH_NODE=${process.execPath} to run on this machine's Node only`,
    );
  }
}
