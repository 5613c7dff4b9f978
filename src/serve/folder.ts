// The served folder: which files are resources, how a `file:///` URI maps to one, and reading and
// writing them without ever leaving the root (no `..`, no encoded separators, no symlink out).
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import mime from 'mime-types';

/** Folders never served or watched. */
export const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

/** MCP's "resource not found" error code. */
export const RESOURCE_NOT_FOUND = -32002;

const MAX_URI_LENGTH = 4096;
/** mime-types knows `.ts` as an MPEG transport stream; in a served folder it is TypeScript. */
const MIME_OVERRIDES: Record<string, string> = { ts: 'text/x-typescript', mts: 'text/x-typescript', cts: 'text/x-typescript', tsx: 'text/x-typescript' };

export interface FolderLimits {
  /** Files larger than this are not resources (default 1 MiB). */
  maxFileBytes: number;
}

export type FileContents = { mimeType: string; text: string } | { mimeType: string; blob: string };

/** A write refused because of where it would land; the message is safe to show the client. */
export class PathRefused extends Error {}

export const notFound = () => new McpError(RESOURCE_NOT_FOUND, 'Resource not found');
const badUri = () => new McpError(ErrorCode.InvalidParams, 'Invalid params: not a file:/// URI of a path inside the served folder');

export class Folder {
  private constructor(
    /** The root's real path (symlinks resolved). */
    readonly root: string,
    readonly limits: FolderLimits,
  ) {}

  static async open(root: string, limits: FolderLimits): Promise<Folder> {
    const real = await realpath(root);
    if (!(await stat(real)).isDirectory()) throw new Error(`mcpwire serve: ${root} is not a folder`);
    return new Folder(real, limits);
  }

  /** `file:///` and the root-relative path, each segment percent-encoded: the one form notifications use. */
  static uriOf(rel: string): string {
    return 'file:///' + rel.split('/').map(encodeURIComponent).join('/');
  }

  /**
   * The root-relative path (with `/`) a `file:///` URI names, or undefined when the URI is malformed or
   * tries to step out (`..`, `.`, empty or encoded separators, NUL, a host, a query). No normalization:
   * a URI that needs it is refused rather than reinterpreted.
   */
  static relOf(uri: string): string | undefined {
    if (uri.length > MAX_URI_LENGTH || !uri.startsWith('file:///')) return undefined;
    const path = uri.slice('file:///'.length);
    if (path === '' || path.includes('?') || path.includes('#')) return undefined;
    const segments: string[] = [];
    for (const raw of path.split('/')) {
      let s: string;
      try {
        s = decodeURIComponent(raw);
      } catch {
        return undefined;
      }
      if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) return undefined;
      segments.push(s);
    }
    return segments.join('/');
  }

  /** The same, for a root-relative path written with `/` (a tool argument); absolute paths are refused. */
  static relOfPath(path: string): string | undefined {
    if (path.length > MAX_URI_LENGTH || path === '') return undefined;
    const segments = path.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..' || /[\\\0]/.test(s))) return undefined;
    return path;
  }

  /**
   * Whether the URI `resources/list` would give `rel` parses back to it: names that cannot (a backslash,
   * a URI over the length cap) are not resources, so that every listed resource can be read.
   */
  static servable(rel: string): boolean {
    try {
      return Folder.relOf(Folder.uriOf(rel)) === rel;
    } catch {
      return false; // a lone surrogate: encodeURIComponent refuses it
    }
  }

  static isSkipped(rel: string): boolean {
    return rel.split('/').some((s) => SKIPPED_DIRS.has(s));
  }

  static mimeOf(rel: string): string | undefined {
    const ext = rel.slice(rel.lastIndexOf('.') + 1).toLowerCase();
    return MIME_OVERRIDES[ext] ?? (mime.lookup(rel) || undefined);
  }

  absolute(rel: string): string {
    return join(this.root, ...rel.split('/'));
  }

  /** The root-relative path (with `/`) of an absolute path inside the root. */
  relative(abs: string): string {
    return relative(this.root, abs).split(sep).join('/');
  }

  private inside(real: string): boolean {
    return real.startsWith(this.root + sep);
  }

  /**
   * The size of the file at `rel` if it is a resource: a regular file (or a symlink to one that stays
   * inside the root), outside the skipped folders, within the size cap; its mtime; and the root-relative
   * path it resolves to (`rel` itself unless symlinks lead elsewhere). Undefined otherwise.
   */
  async eligible(rel: string): Promise<{ size: number; mtimeMs: number; target: string } | undefined> {
    if (Folder.isSkipped(rel)) return undefined;
    try {
      // realpath, not lstat alone: any folder on the way may be a symlink too.
      const real = await realpath(this.absolute(rel));
      const target = this.relative(real);
      if (!this.inside(real) || Folder.isSkipped(target)) return undefined;
      // stat, never open: opening a FIFO would block.
      const st = await stat(real);
      return st.isFile() && st.size <= this.limits.maxFileBytes ? { size: st.size, mtimeMs: st.mtimeMs, target } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A name for the state of `rel` that every process watching this folder agrees on: the file's mtime
   * and size; once it is gone, the mtime of the nearest folder above it still there (a removal changes
   * it, so the same path removed twice gets two names).
   */
  async version(rel: string): Promise<string> {
    try {
      const st = await stat(this.absolute(rel));
      return `${st.mtimeMs}:${st.size}`;
    } catch {
      for (let dir = rel; dir !== '.'; ) {
        dir = dirname(dir);
        try {
          return `gone:${(await stat(this.absolute(dir === '.' ? '' : dir))).mtimeMs}`;
        } catch {
          // gone too: look further up
        }
      }
      return 'gone';
    }
  }

  /** Resolves a URI to the real path of an eligible file, or throws the MCP error to answer with. */
  async resolve(uri: string): Promise<{ rel: string; real: string }> {
    const rel = Folder.relOf(uri);
    if (rel === undefined) throw badUri();
    if (Folder.isSkipped(rel)) throw notFound();
    let real: string;
    try {
      real = await realpath(this.absolute(rel));
    } catch {
      throw notFound();
    }
    if (!this.inside(real) || Folder.isSkipped(this.relative(real))) throw notFound();
    return { rel, real };
  }

  /** Reads a resource: text for UTF-8 content of a textual type, base64 otherwise. */
  async read(uri: string): Promise<FileContents> {
    const { rel, real } = await this.resolve(uri);
    let handle;
    try {
      // O_NOFOLLOW: the checked path's last component cannot have become a symlink since. O_NONBLOCK: a
      // FIFO (or device) opens at once, to be refused below, instead of holding a libuv thread forever.
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      throw notFound();
    }
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.size > this.limits.maxFileBytes) throw notFound();
      const buf = Buffer.alloc(st.size);
      const { bytesRead } = await handle.read(buf, 0, st.size, 0);
      return contentsOf(rel, buf.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  }

  /**
   * The real path to write `rel` at, creating missing folders, after checking that the nearest existing
   * ancestor, and the target when it exists (a symlink included), resolve inside the root. Throws
   * PathRefused saying why not. Open the result with O_NOFOLLOW.
   */
  async writablePath(rel: string): Promise<string> {
    if (Folder.isSkipped(rel)) throw new PathRefused('that folder is not served');
    const abs = this.absolute(rel);
    let ancestor = dirname(abs);
    for (;;) {
      const real = await realpath(ancestor).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (real === undefined) {
        ancestor = dirname(ancestor);
        continue;
      }
      this.checkWritableDir(real);
      break;
    }
    await mkdir(dirname(abs), { recursive: true });
    const dir = await realpath(dirname(abs));
    this.checkWritableDir(dir);
    const existing = await lstat(abs).catch(() => undefined);
    if (!existing) return join(dir, basename(abs));
    // A dangling symlink would be followed by the write: resolve it, and refuse it when it cannot be.
    const real = await realpath(abs).catch(() => undefined);
    if (real === undefined || !this.inside(real) || Folder.isSkipped(this.relative(real))) {
      throw new PathRefused('the path leaves the served folder');
    }
    if (!(await stat(real)).isFile()) throw new PathRefused('the path is not a regular file');
    return real;
  }

  /** A folder reached through symlinks must be inside the root and, like the path asked for, not a skipped one (`g -> .git`). */
  private checkWritableDir(real: string): void {
    if (real === this.root) return;
    if (!this.inside(real)) throw new PathRefused('the path leaves the served folder');
    if (Folder.isSkipped(this.relative(real))) throw new PathRefused('that folder is not served');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether a file of this type may hold text (then its content decides); media types never do. */
export function mayBeText(mimeType: string | undefined): boolean {
  return mimeType === undefined || mimeType === 'image/svg+xml' || !/^(image|audio|video|font)\//.test(mimeType);
}

function contentsOf(rel: string, buf: Buffer): FileContents {
  const known = Folder.mimeOf(rel);
  if (mayBeText(known) && !buf.includes(0)) {
    try {
      return { mimeType: known ?? 'text/plain', text: utf8.decode(buf) };
    } catch {
      // not UTF-8: a blob
    }
  }
  return { mimeType: known ?? 'application/octet-stream', blob: buf.toString('base64') };
}
