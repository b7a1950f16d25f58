/**
 * Type-checks test files with the TypeScript compiler API. `tsconfig.json` covers `src`, `examples` and `bench`
 * only, and `vitest run` does not type-check, so without this the `expectTypeOf` assertions and
 * `@ts-expect-error` lines of the type-level tests could never fail.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The type errors in `files` (paths relative to the repository root), formatted `file:line:col message`. */
export function typeErrors(files: readonly string[]): string[] {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const paths = files.map((f) => resolve(root, f));
  const program = ts.createProgram(paths, { ...options, noEmit: true, declaration: false, sourceMap: false });
  const out: string[] = [];
  for (const path of paths) {
    const sf = program.getSourceFile(path);
    if (sf === undefined) throw new Error(`not found: ${path}`);
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const { line, character } = sf.getLineAndCharacterOfPosition(d.start ?? 0);
      out.push(
        `${path.slice(root.length + 1)}:${line + 1}:${character + 1} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
      );
    }
  }
  return out;
}
