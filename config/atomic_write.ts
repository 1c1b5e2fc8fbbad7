/**
 * Crash-safe saves of a whole model directory as ONE set of files.
 *
 * `writeDirectoryAtomic(dir, contents)` builds the new version of `dir` in a sibling staging
 * directory `<dir>.encdec-tmp-<T>` (`T` = `<pid>-<ms>-<n>`) and swaps it in with two renames:
 *
 * 1. write the ownership marker `.encdec-save` (holding `T`) and every new file into staging and
 *    fsync them; hard-link (or copy) into staging the files of the existing `<dir>` that this
 *    save neither writes nor replaces (tokenizer files, README, subfolders); fsync staging;
 * 2. write the marker `T` into `<dir>`, rename `<dir>` → `<dir>.encdec-old-<T>`;
 * 3. rename staging → `<dir>`; fsync the parent; remove the marker from `<dir>`;
 * 4. remove `<dir>.encdec-old-<T>`, then sweep stale siblings of earlier saves.
 *
 * Only what this library created is ever removed or renamed by a sweep or a recovery: a
 * temporary file carries the library's `.encdec-tmp-` infix in its name, and a temporary
 * directory must also hold the marker file naming its own tag. A user's `model.old-2024-01-15/`
 * or `model.encdec-old-1-2-3/` without the marker is never touched. Among those that are ours:
 *    a save holds an advisory lock (flock) on its staging directory and old copy until it is done,
 *    and the OS drops the lock when the process dies, so an unlocked sibling of another process
 *    is a dead save's leftover. Where locks cannot be tested, the process id is checked in
 *    `/proc`, and failing that, siblings older than an hour are removed.
 *
 * What a crash (SIGKILL, power loss after the fsyncs) leaves at each point:
 * - during 1: `<dir>` untouched (old set), plus a partial staging sibling that the next save
 *   sweeps;
 * - between 2 and 3 (two back-to-back renames): no `<dir>`, a complete `<dir>.encdec-old-T`
 *   (old set) and a complete `<dir>.encdec-tmp-T` (new set, complete because 2 starts only after
 *   1 is synced).
 *   {@linkcode recoverDirectorySwap} finds exactly this pair and finishes the swap (new set);
 *   every save calls it first, and loaders should call it when `<dir>` is missing;
 * - after 3: `<dir>` is the new set; at most a (partial) `.encdec-old-` sibling is left to sweep.
 *
 * So `<dir>` is at every moment either the complete old set or the complete new set, or, for
 * the instant between the two renames, missing with both sets complete beside it.
 *
 * The staging directory is a sibling, so it needs write access to the parent of `<dir>`. Where
 * that is denied (e.g. `--allow-write=<dir>` only), the files are replaced one by one instead,
 * each through its own synced temp file and rename: every file is then complete, but the set
 * may mix versions after a crash.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";

/** What {@linkcode writeDirectoryAtomic} puts into the new version of a directory. */
export interface DirectoryContents {
  /** Files to write, name → bytes or text. */
  files?: Record<string, Uint8Array | string>;
  /** Writes more files into the given (staging) directory, e.g. sharded weights. */
  write?: (dir: string) => Promise<unknown>;
  /**
   * Names of existing top-level entries this save replaces even though it does not write them
   * (the weight shards of an earlier save): they are not carried over into the new version.
   */
  replaces?: (name: string) => boolean;
}

/**
 * The suffix of every temporary name the writers create: `.encdec-tmp-<pid>-<ms>-<n>` (files,
 * staging directories) and `.encdec-old-<pid>-<ms>-<n>` (the previous version during a swap).
 */
const TEMP = /\.encdec-(?:tmp|old)-(\d+-\d+-\d+)$/;
/** The ownership marker inside a temporary directory: a file holding the directory's tag. */
export const SAVE_MARKER = ".encdec-save";
/** Stale temporaries of a live process are kept this long (a very slow save). */
const STALE_MS = 60 * 60 * 1000;

let counter = 0;

/** A fresh tag `<pid>-<ms>-<n>`, unique within this process. */
function newTag(): string {
  return `${Deno.pid}-${Date.now()}-${counter++}`;
}

/**
 * The temporary sibling a crash-safe write of file `path` goes through:
 * `<dir>/.<name>.encdec-tmp-<pid>-<ms>-<n>` (swept by {@linkcode sweepStaleTemps} when its
 * writer died).
 */
export function tempPathFor(path: string): string {
  const [parent, name] = parentOf(path);
  return `${parent}/.${name}.encdec-tmp-${newTag()}`;
}

/** Writes the ownership marker `tag` into directory `dir` (synced). */
async function writeMarker(dir: string, tag: string): Promise<void> {
  const f = await Deno.open(`${dir}/${SAVE_MARKER}`, { write: true, create: true, truncate: true });
  try {
    await f.write(new TextEncoder().encode(tag));
    await f.sync();
  } finally {
    f.close();
  }
}

/**
 * Whether temporary `path` with tag `tag` was created by this library: a file by its name alone
 * (the `.encdec-tmp-` infix), a directory only when it holds the marker naming `tag` or holds
 * nothing else than (a partial) marker.
 */
async function provablyOurs(path: string, tag: string): Promise<boolean> {
  const st = await Deno.lstat(path);
  if (st.isSymlink) return false;
  if (!st.isDirectory) return true;
  try {
    if ((await Deno.readTextFile(`${path}/${SAVE_MARKER}`)) === tag) return true;
  } catch {
    // no marker (yet)
  }
  // A save killed between creating its staging directory and writing the marker leaves it
  // empty (or with a partial marker): nothing of anyone's is lost by removing that.
  for await (const e of Deno.readDir(path)) if (e.name !== SAVE_MARKER) return false;
  return true;
}

function parentOf(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  if (i < 0) return [".", path];
  return [i === 0 ? "/" : path.slice(0, i), path.slice(i + 1)];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** fsync of a directory where the platform allows it (not on Windows). */
async function syncDir(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    const f = await Deno.open(path, { read: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the renames are still ordered by the OS.
  }
}

/**
 * Writes `bytes` to `path` (which must not exist) and fsyncs it; with `renameTo`, then renames
 * it there, holding a lock on it until then (so no sweep takes it for a dead save's leftover).
 */
export async function writeSynced(
  path: string,
  bytes: Uint8Array | string,
  renameTo?: string,
): Promise<void> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  // Windows locks are mandatory and block the rename: there the file is closed first.
  const holdLock = renameTo !== undefined && Deno.build.os !== "windows";
  const f = await Deno.open(path, { read: true, write: true, createNew: true });
  try {
    if (holdLock) await f.tryLock(true).catch(() => false);
    let off = 0;
    while (off < data.length) off += await f.write(data.subarray(off));
    await f.sync();
    if (holdLock) await Deno.rename(path, renameTo);
  } finally {
    f.close();
  }
  if (renameTo !== undefined && !holdLock) await Deno.rename(path, renameTo);
}

/**
 * Removes a temporary directory of this library (or a file) so that its ownership marker goes
 * last: a removal killed half-way leaves a directory that still proves itself ours to the next
 * sweep (marker intact, or nothing but the marker left).
 */
async function removeOwned(path: string): Promise<void> {
  try {
    if ((await Deno.lstat(path)).isDirectory) {
      for await (const e of Deno.readDir(path)) {
        if (e.name !== SAVE_MARKER) await Deno.remove(`${path}/${e.name}`, { recursive: true });
      }
    }
    await Deno.remove(path, { recursive: true });
  } catch {
    // gone already, or not removable: the next sweep tries again
  }
}

/** Whether process `pid` runs (Linux `/proc`); `null` where that cannot be told. */
async function pidAlive(pid: number): Promise<boolean | null> {
  if (Deno.build.os !== "linux") return null;
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch (e) {
    // With --allow-run, Deno asks for --allow-all to look into /proc: then it cannot be told.
    return e instanceof Deno.errors.NotFound ? false : null;
  }
}

/**
 * Takes an exclusive advisory lock (flock) on `path` (a staging directory, an old copy, a temp
 * file) and holds it until the returned handle is closed; the OS drops it when the process dies.
 * Every writer here holds one on its temporaries while it works, which is how a sweep tells a
 * live save from a dead one's leftovers. `"held"` when another holder has it; `null` where it
 * cannot be tried (Windows directories, some network filesystems).
 */
async function lockPath(path: string): Promise<Deno.FsFile | "held" | null> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(path, { read: true });
    if (await f.tryLock(true)) return f;
    f.close();
    return "held";
  } catch {
    f?.close();
    return null;
  }
}

/** Holds the lock of `path` for the caller, or `null` (liveness then falls back, see below). */
async function lockDir(path: string): Promise<Deno.FsFile | null> {
  const l = await lockPath(path);
  return l === "held" ? null : l;
}

/**
 * Whether temporary `path` of process `pid` is stale: its lock is free (the save that held it
 * died), or, where locks cannot be tried, its process is gone (`/proc`), or, where neither can
 * be told, it is older than an hour. A locked temporary is a live save's and is kept.
 */
async function isStale(path: string, pid: number): Promise<boolean> {
  const st = await Deno.lstat(path);
  const old = Date.now() - (st.mtime?.getTime() ?? Date.now()) > STALE_MS;
  const lock = await lockPath(path);
  if (lock === "held") return false;
  if (lock !== null) {
    lock.close();
    // Free: its save died, or is this process's own, just created and not locked yet.
    return pid !== Deno.pid || old;
  }
  if (pid === Deno.pid) return old;
  const alive = await pidAlive(pid);
  return alive === false || (alive === null && old);
}

/**
 * Removes the stale temporaries this library left next to `target` in its parent directory
 * (`<name>.encdec-tmp-<T>`, `<name>.encdec-old-<T>`, `.<name>.encdec-tmp-<T>`; directories only
 * with the marker naming `T`): those no live save holds, or whose process is gone, or, where
 * neither can be told, older than an hour. Errors are ignored: a sweep never fails a save.
 */
export async function sweepStaleTemps(target: string): Promise<void> {
  const [parent, name] = parentOf(target.replace(/\/+$/, ""));
  const mine = new RegExp(
    `^\\.?${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.encdec-(?:tmp|old)-((\\d+)-\\d+-\\d+)$`,
  );
  try {
    for await (const e of Deno.readDir(parent)) {
      const m = mine.exec(e.name);
      if (!m) continue;
      const path = `${parent}/${e.name}`;
      try {
        if (!(await provablyOurs(path, m[1]))) continue;
        if (await isStale(path, Number(m[2]))) await removeOwned(path);
      } catch {
        // gone already, or not ours to remove
      }
    }
  } catch {
    // no read access to the parent, or it vanished: nothing to sweep
  }
}

/**
 * Finishes a directory swap that a crash interrupted between its two renames: when `dir` is
 * missing but a complete staging `<dir>.encdec-tmp-T` and the previous version `<dir>.encdec-old-T` (both
 * holding this library's marker for `T`) of the
 * same save `T` are both beside it, the staging becomes `dir` (the new set) and the old copy is
 * removed. Returns whether `dir` exists afterwards. Anything else (no `dir` and no such pair)
 * is left alone.
 *
 * @example
 * ```ts ignore
 * if (!(await isLocalDir(dir))) await recoverDirectorySwap(dir);
 * ```
 */
export async function recoverDirectorySwap(dir: string): Promise<boolean> {
  const base = dir.replace(/\/+$/, "") || "/";
  if (await exists(base)) return true;
  const [parent, name] = parentOf(base);
  const olds: string[] = [];
  const temps = new Set<string>();
  try {
    for await (const e of Deno.readDir(parent)) {
      if (!e.isDirectory || !e.name.startsWith(`${name}.`)) continue;
      const rest = e.name.slice(name.length + 1);
      if (!TEMP.test(e.name)) continue;
      if (rest.startsWith("encdec-old-")) olds.push(rest.slice(11));
      else if (rest.startsWith("encdec-tmp-")) temps.add(rest.slice(11));
    }
  } catch {
    return false;
  }
  for (const tag of olds) {
    if (!temps.has(tag)) continue;
    const tmp = `${parent}/${name}.encdec-tmp-${tag}`, old = `${parent}/${name}.encdec-old-${tag}`;
    // Both halves must carry this library's marker for tag: never rename a user's folders.
    if (!(await provablyOurs(tmp, tag)) || !(await provablyOurs(old, tag))) continue;
    try {
      await Deno.rename(tmp, base);
    } catch {
      // another process finished the same swap first
      if (!(await exists(base))) continue;
    }
    await syncDir(parent);
    await Deno.remove(`${base}/${SAVE_MARKER}`).catch(() => {});
    await removeOwned(old);
    return true;
  }
  return await exists(base);
}

/** Hard-links (or copies) `from` into `to`, recursing into folders and keeping symlinks. */
async function carryOver(from: string, to: string): Promise<void> {
  const st = await Deno.lstat(from);
  if (st.isSymlink) {
    await Deno.symlink(await Deno.readLink(from), to);
  } else if (st.isDirectory) {
    await Deno.mkdir(to);
    for await (const e of Deno.readDir(from)) {
      if (TEMP.test(e.name) || e.name === SAVE_MARKER) continue;
      await carryOver(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  } else {
    try {
      await Deno.link(from, to);
    } catch {
      await Deno.copyFile(from, to);
    }
  }
}

function isPermissionError(e: unknown): boolean {
  return e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable;
}

/**
 * Replaces the contents of `dir` (created if needed) with one new set of files, crash-safely:
 * after a crash at any point `dir` is the complete old set or the complete new set (see the
 * module documentation for each point). Existing entries the save does not write and that
 * `replaces` does not claim are kept (hard-linked into the new version). Throws a
 * `ConfigError` naming `dir` when the save fails; `dir` is then unchanged.
 *
 * @example
 * ```ts ignore
 * await writeDirectoryAtomic("./out", {
 *   files: { "config.json": "{}\n" },
 *   write: (staging) => saveShardedSafetensors(staging, tensors),
 *   replaces: (name) => /^model(-\d{5}-of-\d{5})?\.safetensors/.test(name),
 * });
 * ```
 */
export async function writeDirectoryAtomic(
  dir: string,
  contents: DirectoryContents,
): Promise<void> {
  let base = dir.replace(/\/+$/, "") || "/";
  try {
    // A symlinked directory is replaced where it points, so the link itself stays.
    if ((await Deno.lstat(base)).isSymlink) base = await Deno.realPath(base);
  } catch {
    // missing: created below
  }
  const [parent, name] = parentOf(base);
  const fail = (what: string, e: unknown): ConfigError =>
    new ConfigError(
      `${base}: cannot save (${what}: ${(e as Error).message}); expected a writable directory` +
        ` whose parent is writable too`,
      { cause: e },
    );
  try {
    if (!(await exists(parent))) await Deno.mkdir(parent, { recursive: true });
    await recoverDirectorySwap(base);
  } catch (e) {
    if (isPermissionError(e)) return await writeInPlace(base, contents);
    throw fail("preparing the directory", e);
  }
  const tag = newTag();
  const staging = `${parent}/${name}.encdec-tmp-${tag}`;
  try {
    await Deno.mkdir(staging);
  } catch (e) {
    if (isPermissionError(e)) return await writeInPlace(base, contents);
    throw fail(`creating ${staging}`, e);
  }
  const old = `${parent}/${name}.encdec-old-${tag}`;
  // Locks held until the swap is over tell other processes' sweeps that this save is alive.
  const locks = [await lockDir(staging)];
  try {
    try {
      await writeMarker(staging, tag);
      for (const [file, data] of Object.entries(contents.files ?? {})) {
        await writeSynced(`${staging}/${file}`, data);
      }
      await contents.write?.(staging);
      if (await exists(base)) {
        for await (const e of Deno.readDir(base)) {
          if (TEMP.test(e.name) || e.name === SAVE_MARKER || contents.replaces?.(e.name)) continue;
          if (await exists(`${staging}/${e.name}`)) continue;
          await carryOver(`${base}/${e.name}`, `${staging}/${e.name}`);
        }
      }
      await syncDir(staging);
    } catch (e) {
      await removeOwned(staging);
      throw e instanceof ConfigError ? e : fail(`writing ${staging}`, e);
    }
    let swapped = false;
    try {
      if (await exists(base)) {
        locks.push(await lockDir(base)); // becomes the lock of the old copy
        await writeMarker(base, tag); // proves the old copy ours to a sweep or a recovery
        await Deno.rename(base, old);
        swapped = true;
      }
      try {
        await Deno.rename(staging, base);
      } catch (e) {
        // A loader's recoverDirectorySwap may have finished this very swap.
        if (!(e instanceof Deno.errors.NotFound) || !(await exists(base))) throw e;
      }
      await syncDir(parent);
    } catch (e) {
      if (swapped && !(await exists(base))) await Deno.rename(old, base).catch(() => {});
      await Deno.remove(`${base}/${SAVE_MARKER}`).catch(() => {});
      await removeOwned(staging);
      throw fail("swapping in the new version", e);
    }
    await Deno.remove(`${base}/${SAVE_MARKER}`).catch(() => {});
    if (swapped) await removeOwned(old);
  } finally {
    for (const l of locks) l?.close();
  }
  await sweepStaleTemps(base);
}

/** The fallback without a writable parent: each file replaced by its own rename. */
async function writeInPlace(base: string, contents: DirectoryContents): Promise<void> {
  try {
    await Deno.mkdir(base, { recursive: true });
    await contents.write?.(base);
    for (const [file, data] of Object.entries(contents.files ?? {})) {
      await writeSynced(tempPathFor(`${base}/${file}`), data, `${base}/${file}`);
    }
  } catch (e) {
    throw new ConfigError(`${base}: cannot save (${(e as Error).message})`, { cause: e });
  }
}

/**
 * Writes one file crash-safely: `bytes` go to a synced temporary sibling ({@linkcode tempPathFor})
 * renamed over `path`, so `path` only ever holds the old or the complete new file; stale
 * temporaries of dead writers of the same file are swept afterwards. Throws a `ConfigError`
 * naming `path` (the temporary is removed).
 *
 * @example
 * ```ts ignore
 * await writeFileAtomic("out/model.safetensors", bytes);
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeSynced(tmp, bytes, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new ConfigError(`${path}: cannot write file (${(e as Error).message})`, { cause: e });
  }
  await sweepStaleTemps(path);
}
