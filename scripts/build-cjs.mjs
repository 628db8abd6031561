#!/usr/bin/env node
// The CommonJS build, for applications (and their Jest) that `require()` the library: the tree that
// tsconfig.cjs.json names, compiled with `module: commonjs` into dist/cjs/, beside the ES module build in
// dist/. dist/cjs/package.json says `"type": "commonjs"`, so Node and TypeScript read its .js and .d.ts
// files as CommonJS inside this `"type": "module"` package.
//
// `import.meta` does not exist in CommonJS: `import.meta.url` is compiled to the file URL of the module
// (`require('node:url').pathToFileURL(__filename).href`, the shim bundlers such as tsup put in CommonJS
// builds), and only the compiler's complaint about those very expressions is set aside. Anything else
// CommonJS cannot express (another `import.meta` property, top-level await) fails the build.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const CONFIG = 'tsconfig.cjs.json';
/** TS1343: "The 'import.meta' meta-property is only allowed when the '--module' option is …". */
const IMPORT_META_NOT_ALLOWED = 1343;

const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: fail };
const config = ts.getParsedCommandLineOfConfigFile(CONFIG, undefined, host);
if (!config || config.errors.length > 0) fail(...(config?.errors ?? []));
const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });

/** `<file>:<position>` of each `import.meta` replaced. */
const shimmed = new Set();

/** Replaces `import.meta.url` with the module's file URL computed from `__filename`. */
function importMetaUrl(context) {
  const { factory } = context;
  return (sourceFile) => {
    const visit = (node) => {
      if (
        ts.isPropertyAccessExpression(node) &&
        ts.isMetaProperty(node.expression) &&
        node.expression.keywordToken === ts.SyntaxKind.ImportKeyword &&
        node.name.text === 'url'
      ) {
        shimmed.add(`${sourceFile.fileName}:${node.expression.getStart(sourceFile)}`);
        const url = factory.createCallExpression(factory.createIdentifier('require'), undefined, [
          factory.createStringLiteral('node:url'),
        ]);
        const fileUrl = factory.createCallExpression(
          factory.createPropertyAccessExpression(url, 'pathToFileURL'),
          undefined,
          [factory.createIdentifier('__filename')],
        );
        return factory.createPropertyAccessExpression(fileUrl, 'href');
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(sourceFile, visit);
  };
}

const emitted = program.emit(undefined, undefined, undefined, false, { before: [importMetaUrl] });
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].filter(
  (diagnostic) =>
    !(
      diagnostic.code === IMPORT_META_NOT_ALLOWED &&
      diagnostic.file &&
      shimmed.has(`${diagnostic.file.fileName}:${diagnostic.start}`)
    ),
);
if (diagnostics.length > 0 || emitted.emitSkipped) fail(...diagnostics);
writeFileSync(join(config.options.outDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

function fail(...problems) {
  const formatHost = {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: ts.sys.getCurrentDirectory,
    getNewLine: () => ts.sys.newLine,
  };
  process.stderr.write(ts.formatDiagnostics(problems, formatHost));
  process.stderr.write(`build-cjs: the CommonJS build (${CONFIG}) failed\n`);
  process.exit(1);
}
