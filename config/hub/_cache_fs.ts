/**
 * File-system guards of the Hub cache: every path the client writes or returns must resolve (real
 * path, symlinks followed) inside the real cache directory, so a planted symlink (`blobs` → `/x`,
 * `snapshots/<c>/config.json` → `/etc/passwd`) cannot make a download write, or a load read,
 * outside the granted roots. The cache's own `snapshots → ../../blobs` links stay inside and are
 * allowed. File-system failures of odd but legal layouts (`a` and `a/b` both files) become
 * `CacheLayoutError`. Private to `config/hub/`.
 *
 * @module
 */
import { join, relative, resolve, sep } from "node:path";
import { CacheLayoutError, HubError, type HubErrorContext } from "./hub_errors.ts";

/** True when `child` is `parent` or below it (both absolute, normalised). */
export function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

function isMissing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
}

function isDenied(e: unknown): boolean {
  return e instanceof Deno.errors.PermissionDenied || (e as Error)?.name === "NotCapable";
}

/**
 * Runs a cache file-system step; a failure other than a denied permission (kept as is, so the
 * caller can name the missing grant) or a `HubError` becomes a `CacheLayoutError` naming `path`.
 */
export async function cacheStep<T>(
  what: string,
  path: string,
  ctx: HubErrorContext,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof HubError || isDenied(e)) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new CacheLayoutError(
      `hub: cannot ${what} ${path} for ${describe(ctx)}: ${why}; the repository's paths collide ` +
        `in the file system, or the cache is damaged (remove ${path} and retry)`,
      { ...ctx, path },
      { cause: e },
    );
  }
}

function describe(ctx: HubErrorContext): string {
  const rev = ctx.revision ? ` at revision "${ctx.revision}"` : "";
  return ctx.filename ? `"${ctx.filename}" of "${ctx.repoId}"${rev}` : `"${ctx.repoId}"${rev}`;
}

/** The real path of the cache directory, created first when `create` (else `null` if missing). */
export async function realCacheRoot(cacheDir: string, create: boolean): Promise<string | null> {
  if (create) await Deno.mkdir(cacheDir, { recursive: true });
  try {
    return await Deno.realPath(cacheDir);
  } catch (e) {
    if (!create && isMissing(e)) return null;
    throw e;
  }
}

function escapeError(path: string, real: string, root: string, ctx: HubErrorContext): never {
  throw new CacheLayoutError(
    `hub: ${path} (for ${describe(ctx)}) is a symlink that resolves to ${real}, outside the ` +
      `cache ${root}; refusing to use it (remove the link and run again)`,
    { ...ctx, path },
  );
}

/**
 * Makes sure the directory `dir` (below `cacheDir`) exists as a real directory inside the real
 * cache root, creating missing parts one at a time: an existing part that is a symlink must
 * resolve inside the cache, a part that is a file is a collision (`CacheLayoutError`).
 */
export async function ensureCacheDir(
  dir: string,
  cacheDir: string,
  ctx: HubErrorContext,
): Promise<void> {
  const root = (await realCacheRoot(cacheDir, true))!;
  const rel = relative(resolve(cacheDir), resolve(dir));
  if (rel.startsWith("..") || rel.startsWith(sep)) {
    throw new CacheLayoutError(`hub: ${dir} is not inside the cache ${cacheDir}`, {
      ...ctx,
      path: dir,
    });
  }
  let p = cacheDir;
  for (const part of rel === "" ? [] : rel.split(sep)) {
    p = join(p, part);
    let info: Deno.FileInfo | null = null;
    try {
      info = await Deno.lstat(p);
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
    if (info === null) {
      await cacheStep("create the folder", p, ctx, async () => {
        try {
          await Deno.mkdir(p);
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e; // a racer made it
        }
      });
      info = await Deno.lstat(p);
    }
    if (info.isSymlink) {
      const real = await cacheStep("resolve the link", p, ctx, () => Deno.realPath(p));
      if (!isInside(real, root)) escapeError(p, real, root, ctx);
      info = await Deno.stat(p);
    }
    if (!info.isDirectory) {
      throw new CacheLayoutError(
        `hub: cannot store ${describe(ctx)}: ${p} is a file where a folder is needed (the ` +
          `repository has both "${
            relative(cacheDir, p).split(sep).slice(3).join("/")
          }" as a file ` +
          `and paths under it, or the cache is damaged)`,
        { ...ctx, path: p },
      );
    }
  }
  const real = await Deno.realPath(dir);
  if (!isInside(real, root)) escapeError(dir, real, root, ctx);
}

/** Throws `CacheLayoutError` when `path` exists as a symlink (a write would follow it). */
export async function refuseSymlink(path: string, ctx: HubErrorContext): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (isMissing(e)) return;
    throw e;
  }
  if (info.isSymlink) {
    throw new CacheLayoutError(
      `hub: ${path} (for ${describe(ctx)}) is a symlink; the client never creates one there and ` +
        `will not write through it (remove it and run again)`,
      { ...ctx, path },
    );
  }
}

/**
 * Whether the cached file `path` can be returned: `false` when absent (or a dangling link),
 * `true` when it resolves to a regular file inside the real cache root. A link out of the cache,
 * or a folder where a file is expected, is a `CacheLayoutError`.
 */
export async function isSafeCachedFile(
  path: string,
  cacheDir: string,
  ctx: HubErrorContext,
): Promise<boolean> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    if (isMissing(e)) return false;
    if (isDenied(e)) throw e;
    return await cacheStep("resolve", path, ctx, () => Promise.reject(e));
  }
  const root = await realCacheRoot(cacheDir, false);
  if (root === null || !isInside(real, root)) escapeError(path, real, root ?? cacheDir, ctx);
  const info = await Deno.stat(path); // the path as given: the grants name it, not its target
  if (!info.isFile) {
    throw new CacheLayoutError(
      `hub: cached ${describe(ctx)} at ${path} is a folder, not a file (the repository has ` +
        `both "${ctx.filename}" as a file and paths under it)`,
      { ...ctx, path },
    );
  }
  return true;
}

/**
 * Checks every entry below the snapshot folder `dir` (at most `limit` entries): each must resolve
 * inside the real cache root. Used before a cached snapshot folder is handed out.
 */
export async function assertSafeSnapshotDir(
  dir: string,
  cacheDir: string,
  ctx: HubErrorContext,
  limit = 100_000,
): Promise<void> {
  const root = await realCacheRoot(cacheDir, false);
  if (root === null) return;
  let seen = 0;
  const walk = async (d: string): Promise<void> => {
    const realDir = await Deno.realPath(d);
    if (!isInside(realDir, root)) escapeError(d, realDir, root, ctx);
    for await (const e of Deno.readDir(d)) {
      if (++seen > limit) return;
      const p = join(d, e.name);
      if (e.isSymlink) {
        let real: string;
        try {
          real = await Deno.realPath(p);
        } catch (err) {
          if (isMissing(err)) continue; // dangling: never read
          throw err;
        }
        if (!isInside(real, root)) escapeError(p, real, root, ctx);
        if ((await Deno.stat(p)).isDirectory) await walk(p);
      } else if (e.isDirectory) await walk(p);
    }
  };
  await walk(dir);
}
