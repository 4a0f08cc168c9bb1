// src/ has no import cycle: every module can be read (and changed) after the modules it imports.
// Type-only imports count, as they tie the modules together for a reader just the same.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const SRC = path.resolve(__dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The module files of src/ a file imports (static, type-only, re-exports, dynamic and require). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => {
      const base = path.resolve(path.dirname(file), name);
      const found = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate));
      assert.ok(found, `${path.relative(SRC, file)} imports ${name}, which is no module of src/`);
      return found;
    });
}

/** Every cycle found by a depth-first walk, each as the chain of files that closes it. */
function importCycles(files: string[], edges: (file: string) => string[]): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of edges(file)) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return cycles;
}

test('the cycle finder reports a cycle through a type-only import, and none in a chain', () => {
  const graph: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a'], d: ['e'], e: [] };
  assert.deepEqual(importCycles(Object.keys(graph), (f) => graph[f]!), [['a', 'b', 'c', 'a']]);
  const fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'import-cycle-'));
  try {
    fs.writeFileSync(path.join(fixture, 'one.ts'), "import type { Two } from './two';\nexport interface One { two: Two }\n");
    fs.writeFileSync(path.join(fixture, 'two.ts'), "import { one } from './one';\nexport type Two = typeof one;\n");
    const files = sourceFiles(fixture);
    assert.equal(importCycles(files, importsOf).length, 1);
  } finally {
    fs.rmSync(fixture, { recursive: true, force: true });
  }
});

test('src/ has no import cycle', () => {
  const graph = new Map(sourceFiles(SRC).map((file) => [file, importsOf(file)]));
  const cycles = importCycles([...graph.keys()], (file) => graph.get(file)!);
  assert.deepEqual(
    cycles.map((cycle) => cycle.map((file) => path.relative(SRC, file)).join(' → ')),
    [],
    'move what the modules of a cycle share into a module both import',
  );
});
