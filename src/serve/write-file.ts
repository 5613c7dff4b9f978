// The `write_file` tool (only with --writable): writes a file under the root, never outside it.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { Folder, PathRefused } from './folder.js';
import { ToolInputError, stringArg, textResult, type Tool } from './tool.js';

export function writeFileTool(folder: Folder): Tool {
  const max = folder.limits.maxFileBytes;
  return {
    name: 'write_file',
    title: 'Write a file',
    description: `Creates or replaces a file under the served folder (at most ${max} bytes). Subscribers of the file are notified.`,
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'path relative to the root, with / (e.g. "notes/todo.md"), or its file:/// URI' },
        content: { type: 'string', description: 'the new content' },
        encoding: { type: 'string', enum: ['utf8', 'base64'], default: 'utf8' },
      },
      required: ['path', 'content'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    async call({ args }) {
      const path = stringArg(args, 'path', { maxLength: 4096 });
      const content = args.content;
      if (typeof content !== 'string') throw new ToolInputError('content must be a string');
      const encoding = args.encoding ?? 'utf8';
      if (encoding !== 'utf8' && encoding !== 'base64') throw new ToolInputError('encoding must be utf8 or base64');
      const rel = path.startsWith('file:') ? Folder.relOf(path) : Folder.relOfPath(path);
      if (rel === undefined) throw new ToolInputError('path must be relative to the served folder, with no . or .. segments');
      const bytes = Buffer.from(content, encoding);
      if (bytes.length > max) throw new ToolInputError(`content is larger than ${max} bytes`);
      let target: string;
      try {
        target = await folder.writablePath(rel);
      } catch (err) {
        if (err instanceof PathRefused) throw new ToolInputError(`cannot write there: ${err.message}`);
        throw err;
      }
      // O_NONBLOCK: a FIFO swapped in since the check fails at once (ENXIO) instead of blocking a libuv thread.
      const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      const uri = Folder.uriOf(rel);
      return textResult(`wrote ${bytes.length} bytes to ${uri}`, { uri, bytes: bytes.length });
    },
  };
}
