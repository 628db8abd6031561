// Reads the complete examples out of README.md: every code block preceded by a line
// `<!-- example: <example>/<file path> -->` becomes that file of that example's project. The shell blocks
// (`install.sh`, `try.sh`) are not run by a shell: the few command forms they may use are parsed here, so a
// form the tests do not know fails loudly instead of being skipped.

/** One file of a README example, with the README line its code block starts on (for error messages). */
export interface ExampleFile {
  path: string;
  code: string;
  line: number;
}

const MARKER = /^<!-- example: (\S+) -->$/;

/** The marked blocks of `readme`, by example name (`quick-start`), then by file path inside the example. */
export function readmeExamples(readme: string): Map<string, Map<string, ExampleFile>> {
  const lines = readme.split('\n');
  const examples = new Map<string, Map<string, ExampleFile>>();
  lines.forEach((text, index) => {
    const marker = MARKER.exec(text.trim());
    if (!marker) return;
    const where = `README.md:${index + 1}`;
    const [example, ...rest] = marker[1].split('/');
    const path = rest.join('/');
    if (!example || !path || rest.some((part) => part === '' || part === '.' || part === '..')) {
      throw new Error(`${where}: "${marker[1]}" is not <example>/<relative file path>`);
    }
    // Prettier puts a blank line between an HTML comment and the block that follows it.
    let start = index + 1;
    while (lines[start]?.trim() === '') start += 1;
    const fence = /^(`{3,})[\w-]*$/.exec(lines[start]);
    if (!fence) throw new Error(`${where}: the marker must be followed by a fenced code block`);
    const end = lines.findIndex((candidate, at) => at > start && candidate === fence[1]);
    if (end === -1) throw new Error(`${where}: the code block after the marker is not closed`);
    const files = examples.get(example) ?? new Map<string, ExampleFile>();
    if (files.has(path)) throw new Error(`${where}: ${example}/${path} is marked twice`);
    const code = lines.slice(start + 1, end).join('\n') + '\n';
    // A block that names its file in its first line (`// src/main.ts…`) must name the file it is marked as.
    const named = /^\/\/ ([\w./-]+\.[a-z]+)(?=[:\s]|$)/.exec(code)?.[1];
    if (named && named !== path) throw new Error(`${where}: the block says it is ${named} but is marked as ${path}`);
    files.set(path, { path, code, line: start + 2 });
    examples.set(example, files);
  });
  return examples;
}

/** Splits one shell command line into words: single and double quotes, `&&` between commands, `#` comments. */
export function shellWords(line: string): { commands: string[][]; comment: string } {
  const commands: string[][] = [[]];
  let word: string | undefined;
  let i = 0;
  const flush = () => {
    if (word !== undefined) commands.at(-1)!.push(word);
    word = undefined;
  };
  while (i < line.length) {
    const c = line[i];
    if (c === "'" || c === '"') {
      const close = line.indexOf(c, i + 1);
      if (close === -1) throw new Error(`unclosed quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, close);
      i = close + 1;
    } else if (c === '#' && word === undefined) {
      flush();
      return { commands: commands.filter((command) => command.length > 0), comment: line.slice(i + 1).trim() };
    } else if (line.startsWith('&&', i)) {
      flush();
      commands.push([]);
      i += 2;
    } else if (/\s/.test(c)) {
      flush();
      i += 1;
    } else if ('|;<>$`\\()'.includes(c)) {
      throw new Error(`shell syntax the README test does not run (${c}) in: ${line}`);
    } else {
      word = (word ?? '') + c;
      i += 1;
    }
  }
  flush();
  return { commands: commands.filter((command) => command.length > 0), comment: '' };
}

/** A command of an example's install script. */
export type InstallStep =
  | { kind: 'npm'; args: string[] } // run as written: `npm init -y`, `npm pkg set type=module`
  | { kind: 'install'; dev: boolean; packages: string[] };

/** The steps of `install.sh`: `npm init …`, `npm pkg set …`, and `npm install [-D] <bare package names>`. */
export function installSteps(file: ExampleFile): InstallStep[] {
  const steps: InstallStep[] = [];
  file.code.split('\n').forEach((line, offset) => {
    const where = `README.md:${file.line + offset}`;
    for (const [program, command, ...args] of shellWords(line).commands) {
      if (program !== 'npm') throw new Error(`${where}: only npm commands are understood here, not "${program}"`);
      if (command === 'init' || command === 'pkg') {
        steps.push({ kind: 'npm', args: [command, ...args] });
      } else if (command === 'install' || command === 'i' || command === 'add') {
        const dev = args.some((arg) => arg === '-D' || arg === '--save-dev');
        const packages = args.filter((arg) => arg !== '-D' && arg !== '--save-dev');
        for (const name of packages) {
          if (name.startsWith('-')) throw new Error(`${where}: npm install flag ${name} is not understood here`);
          if (name.lastIndexOf('@') > 0) {
            throw new Error(
              `${where}: write ${name} without a version; the test installs the version this repository is tested with`,
            );
          }
        }
        if (packages.length === 0) throw new Error(`${where}: npm install without package names`);
        steps.push({ kind: 'install', dev, packages });
      } else {
        throw new Error(`${where}: "npm ${command}" is not understood here`);
      }
    }
  });
  return steps;
}

/** What a `curl` line of `try.sh` expects, from its comment: a status (`# 401 …`), a JSON body (200), or any 2xx. */
export type CurlExpectation = { status: number; body?: unknown } | { status: '2xx' };

/** One `curl` line of `try.sh`. */
export interface CurlStep {
  source: string;
  method: string;
  /** Path and query; the host and port of the README are replaced by the app's. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Cookie files read (`-b`) and written (`-c`). */
  readJar?: string;
  writeJar?: string;
  expect: CurlExpectation;
}

/** The `curl` lines of `try.sh` (`-X`, `-H`, `-d`, `-b`, `-c`, `-i`, `-s`, and a `localhost` URL). */
export function curlSteps(file: ExampleFile): CurlStep[] {
  const steps: CurlStep[] = [];
  file.code.split('\n').forEach((line, offset) => {
    const where = `README.md:${file.line + offset}`;
    const { commands, comment } = shellWords(line);
    if (commands.length === 0) return;
    if (commands.length > 1 || commands[0][0] !== 'curl') throw new Error(`${where}: one curl command per line`);
    const args = commands[0].slice(1);
    const step: Partial<CurlStep> & { headers: Record<string, string> } = { source: line.trim(), headers: {} };
    let method: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      const value = () => {
        const next = args[++i];
        if (next === undefined) throw new Error(`${where}: ${arg} needs a value`);
        return next;
      };
      if (arg === '-i' || arg === '-s' || arg === '-si' || arg === '-is') continue;
      else if (arg === '-X') method = value().toUpperCase();
      else if (arg === '-H') {
        const header = value();
        const colon = header.indexOf(':');
        step.headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
      } else if (arg === '-d') step.body = value();
      else if (arg === '-b') step.readJar = value();
      else if (arg === '-c') step.writeJar = value();
      else if (arg.startsWith('-')) throw new Error(`${where}: curl option ${arg} is not understood here`);
      else {
        const url = new URL(/^https?:\/\//.test(arg) ? arg : `http://${arg}`);
        if (url.hostname !== 'localhost' && url.hostname !== '127.0.0.1')
          throw new Error(`${where}: ${arg} is not a local URL`);
        step.path = url.pathname + url.search;
      }
    }
    if (!step.path) throw new Error(`${where}: curl without a URL`);
    if (step.body !== undefined) step.headers['content-type'] ??= 'application/x-www-form-urlencoded';
    steps.push({
      ...step,
      method: method ?? (step.body === undefined ? 'GET' : 'POST'),
      expect: expectation(comment, where),
    } as CurlStep);
  });
  return steps;
}

function expectation(comment: string, where: string): CurlExpectation {
  const status = /^(\d{3})\b/.exec(comment);
  if (status) return { status: Number(status[1]) };
  if (comment.startsWith('{') || comment.startsWith('[')) {
    try {
      return { status: 200, body: JSON.parse(comment) };
    } catch {
      throw new Error(`${where}: the comment starts like a JSON body but is not one: ${comment}`);
    }
  }
  return { status: '2xx' };
}
