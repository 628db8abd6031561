import { accessSync, constants, createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';

// Where the browser tests get their Chromium, the first that is there:
//   1. CHROMIUM_PATH, when set (it must work: the run fails rather than take another browser);
//   2. a Chromium or Chrome installed on the machine (skipped with BROWSER_SKIP_SYSTEM=1);
//   3. @sparticuz/chromium, a devDependency whose npm tarball ships a headless Chromium build (Linux x64),
//      unpacked once per version into the temporary directory.
// Nothing is downloaded from anywhere but the npm registry, and nothing skips.

/** A Chromium executable, and where it was found (named in reports and errors). */
export interface ChromiumCandidate {
  executablePath: string;
  source: string;
}

/** Chromium and Chrome as Linux distributions, snap and macOS install them. */
const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const SYSTEM_PATHS = [
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/** What to do when no browser works, said in every failure. */
export const HOW_TO_PROVIDE =
  'run `npm install` (it installs @sparticuz/chromium, a Chromium build from the npm registry), ' +
  'or set CHROMIUM_PATH to a Chromium or Chrome executable';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Chromium and Chrome executables on PATH and at the usual install paths, each once. */
function systemBrowsers(): ChromiumCandidate[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const paths = [...new Set(['/usr/bin', ...dirs])].flatMap((dir) => SYSTEM_NAMES.map((name) => join(dir, name)));
  return [...new Set([...paths, ...SYSTEM_PATHS])]
    .filter(isExecutable)
    .map((executablePath) => ({ executablePath, source: 'this machine' }));
}

/**
 * The candidates to launch, in order. Throws when `CHROMIUM_PATH` names no executable, and when there is
 * none at all, saying how to provide one.
 */
export function chromiumCandidates(): (ChromiumCandidate | (() => Promise<ChromiumCandidate>))[] {
  const given = process.env.CHROMIUM_PATH;
  if (given) {
    if (!isExecutable(given)) throw new Error(`CHROMIUM_PATH=${given} is not an executable file; ${HOW_TO_PROVIDE}.`);
    return [{ executablePath: given, source: 'CHROMIUM_PATH' }];
  }
  const system = process.env.BROWSER_SKIP_SYSTEM === '1' ? [] : systemBrowsers();
  // The npm tarball holds a Linux x64 build only; elsewhere (macOS, arm64) an installed browser is needed.
  const runsHere = process.platform === 'linux' && process.arch === 'x64';
  const bundled = runsHere ? bundledChromiumDir() : undefined;
  if (system.length === 0 && bundled === undefined) {
    const skipped = process.env.BROWSER_SKIP_SYSTEM === '1' ? ' (BROWSER_SKIP_SYSTEM=1: system browsers skipped)' : '';
    if (!runsHere) {
      throw new Error(
        `No Chromium found: no CHROMIUM_PATH, none installed${skipped}, and @sparticuz/chromium ships a Linux x64 ` +
          `build only (this is ${process.platform} ${process.arch}); install Chrome or Chromium, or set CHROMIUM_PATH.`,
      );
    }
    throw new Error(
      `No Chromium found: no CHROMIUM_PATH, none installed${skipped}, no @sparticuz/chromium; ${HOW_TO_PROVIDE}.`,
    );
  }
  return bundled === undefined ? system : [...system, () => unpackBundledChromium(bundled)];
}

/** The installed @sparticuz/chromium package's directory, if it is installed. */
function bundledChromiumDir(): string | undefined {
  try {
    // Its entry point is build/index.js; the compressed browser is bin/chromium.br beside build/.
    return dirname(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')));
  } catch {
    return undefined;
  }
}

/**
 * The @sparticuz/chromium browser, unpacked on first use into `<tmpdir>/sparticuz-chromium-<version>/`
 * (about 200 MB, a few seconds). Written under a temporary name and renamed, so an interrupted unpack
 * leaves nothing that looks finished.
 */
async function unpackBundledChromium(packageDir: string): Promise<ChromiumCandidate> {
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const source = `@sparticuz/chromium ${version} (npm)`;
  const dir = join(tmpdir(), `sparticuz-chromium-${version}`);
  const executablePath = join(dir, 'chromium');
  if (existsSync(executablePath)) return { executablePath, source };
  await mkdir(dir, { recursive: true });
  const partial = `${executablePath}.${process.pid}.partial`;
  try {
    await pipeline(
      createReadStream(join(packageDir, 'bin', 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(partial, { mode: 0o755 }),
    );
    await rename(partial, executablePath);
  } catch (error) {
    await rm(partial, { force: true });
    throw new Error(`could not unpack ${source} into ${dir}: ${String(error)}`);
  }
  return { executablePath, source };
}
