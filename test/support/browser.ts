import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Cookie } from 'playwright-core';
import { generate } from 'selfsigned';
import { chromiumCandidates, HOW_TO_PROVIDE, type ChromiumCandidate } from './chromium.js';

/** Flags for a quiet, headless Chromium in a container: no sandbox, GPU, QUIC or background traffic. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The candidate that launched first in this process; the later launches take it at once. */
let launched: ChromiumCandidate | undefined;

/**
 * Runs `launch` with the first Chromium that starts (see `chromium.ts` for the order), and says which.
 * Throws, listing what was tried and how to provide a browser, when none does: the tests never skip.
 */
async function withChromium<T>(launch: (executablePath: string) => Promise<T>): Promise<T> {
  if (launched) return launch(launched.executablePath);
  const failures: string[] = [];
  for (const entry of chromiumCandidates()) {
    let candidate: ChromiumCandidate | undefined;
    try {
      candidate = typeof entry === 'function' ? await entry() : entry;
      const result = await launch(candidate.executablePath);
      launched = candidate;
      const passedOver = failures.length > 0 ? ` (passed over: ${failures.join('; ')})` : '';
      process.stdout.write(`browser: Chromium from ${candidate.source}: ${candidate.executablePath}${passedOver}\n`);
      return result;
    } catch (error) {
      // Playwright's message starts with what failed, and quotes the browser's own stderr as `[pid=…][err]`.
      const lines = String(error instanceof Error ? error.message : error).split('\n');
      const said = [lines[0], lines.find((line) => line.includes('[err]'))?.trim()].filter(Boolean).join(' ');
      failures.push(`${candidate ? `${candidate.source} (${candidate.executablePath})` : 'unpacking'}: ${said}`);
    }
  }
  throw new Error(`No Chromium could be launched: ${failures.join('; ')}; ${HOW_TO_PROVIDE}.`);
}

/** A headless Chromium; each test opens its own context (a fresh cookie jar) in it. */
export function launchBrowser(): Promise<Browser> {
  return withChromium((executablePath) => chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS }));
}

/**
 * A headless Chromium on a profile directory: its cookies are written there and read back by the next
 * launch on the same directory, as a browser restart does. Closing the context closes the browser.
 */
export function launchPersistent(
  userDataDir: string,
  options: { ignoreHTTPSErrors?: boolean } = {},
): Promise<BrowserContext> {
  return withChromium((executablePath) =>
    chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: CHROMIUM_ARGS, ...options }),
  );
}

/** The browser's cookie `name` (for `url`, when given), if it holds one. */
export async function browserCookie(context: BrowserContext, url?: string, name = 'sid'): Promise<Cookie | undefined> {
  return (await context.cookies(url)).find((cookie) => cookie.name === name);
}

/** The `name=value` pair a browser cookie is sent as (what `storedIdOf` and `sessionIdOf` read). */
export function pairOf(cookie: Cookie): string {
  return `${cookie.name}=${cookie.value}`;
}

/** A fresh temporary directory, and the function that removes it. */
export async function temporaryDirectory(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A self-signed certificate for `localhost` and `127.0.0.1`, valid one day, made in Node (no openssl). */
export async function selfSignedCertificate(): Promise<{ key: Buffer; cert: Buffer }> {
  const notBeforeDate = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: Buffer.from(pems.private), cert: Buffer.from(pems.cert) };
}

/** A plain Node HTTP server on loopback (another origin than the app's), serving HTML pages. */
export interface PageServer {
  port: number;
  /** The paths requested, in order. */
  hits: string[];
  /** The URL of `path` through `host`: `127.0.0.1` is the app's site, `localhost` another site. */
  url(path: string, host?: '127.0.0.1' | 'localhost'): string;
  close(): Promise<void>;
}

/** Starts a `PageServer` answering each path with the HTML `page` returns for it, or 404. */
export async function startPageServer(page: (path: string) => string | undefined): Promise<PageServer> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.push(path);
    const html = page(path);
    res.writeHead(html === undefined ? 404 : 200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    hits,
    url: (path, host = '127.0.0.1') => `http://${host}:${port}${path}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Calls `probe` every `intervalMs` until it returns something other than `undefined` or `false`, and
 * returns that. For conditions only the passing of time brings (an expiry); fails after `timeoutMs`,
 * naming `what`.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  { timeoutMs, intervalMs = 100 }: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Clean-up steps, run newest first; every step runs even when an earlier one failed. */
export class Teardown {
  private readonly steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}
