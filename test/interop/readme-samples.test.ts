// README's TypeScript samples compile as a user would write them: each ```ts block of README.md,
// importing from 'mcpwire' (mapped to src/index.ts), is typechecked with the project's compiler
// options (strict, NodeNext). A block that calls `myServer()` without defining it (the samples after
// the first one) gets that function declared, as the first sample defines it. Errors are reported
// by README line.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const README = join(ROOT, 'README.md');

interface Sample {
  /** Line of README.md where the block's code starts (1-based). */
  line: number;
  /** The virtual file the block is checked as (inside the project, so node_modules resolve). */
  file: string;
  text: string;
}

function samples(): Sample[] {
  const lines = readFileSync(README, 'utf8').split('\n');
  const out: Sample[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    let text = lines.slice(start, end).join('\n') + '\n';
    if (/\bmyServer\(/.test(text) && !/\bfunction myServer\b/.test(text)) {
      // Appended, so that line numbers stay those of README (a function declaration is hoisted).
      text += "declare function myServer(): import('@modelcontextprotocol/sdk/server/mcp.js').McpServer;\n";
    }
    out.push({ line: start + 1, file: join(ROOT, 'test', 'interop', `.readme-sample-${out.length + 1}.ts`), text });
    i = end;
  }
  return out;
}

test("README's TypeScript samples typecheck against the library (strict, NodeNext)", () => {
  const blocks = samples();
  assert.ok(blocks.length >= 5, `found ${blocks.length} \`\`\`ts blocks in README.md`);
  for (const b of blocks) assert.match(b.text, /from 'mcpwire'/, `the sample at README.md:${b.line} imports from 'mcpwire'`);

  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  assert.equal(config.error, undefined);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    baseUrl: ROOT,
    paths: { mcpwire: ['./src/index.ts'] },
  };
  const byFile = new Map(blocks.map((b) => [b.file, b]));
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => byFile.has(f) || fileExists.call(host, f);
  host.readFile = (f) => byFile.get(f)?.text ?? readFile.call(host, f);
  host.getSourceFile = (f, languageVersion, ...rest) => {
    const b = byFile.get(f);
    return b ? ts.createSourceFile(f, b.text, languageVersion, true) : getSourceFile.call(host, f, languageVersion, ...rest);
  };
  const program = ts.createProgram({ rootNames: blocks.map((b) => b.file), options, host });

  const problems: string[] = [];
  for (const d of program.getOptionsDiagnostics()) problems.push(`options: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  for (const b of blocks) {
    const sf = program.getSourceFile(b.file);
    assert.ok(sf, `the sample at README.md:${b.line} is in the program`);
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const { line } = d.start === undefined ? { line: 0 } : sf.getLineAndCharacterOfPosition(d.start);
      problems.push(`README.md:${b.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
  }
  assert.deepEqual(problems, [], `README samples that do not compile:\n${problems.join('\n')}`);
});
