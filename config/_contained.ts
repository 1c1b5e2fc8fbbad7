// Private: a model directory's files must lie inside it. Deno's permission checks look at the
// path given, not at a symlink's target, so a `config.json` → `/home/me/.ssh/id_rsa` link would
// otherwise step around `--allow-read=<model dir>`. Real paths are compared instead.
import { ResolveError } from "./resolve.ts";

/** `a/b` is `root` or below it (both real, absolute paths). */
function within(path: string, root: string): boolean {
  const r = root.endsWith("/") ? root : `${root}/`;
  return path === root || path.startsWith(r);
}

/**
 * The real path of `path` (a file named inside model directory `dir`), or a `ResolveError` when
 * it resolves outside `dir`. A Hugging Face cache snapshot (`.../models--org--name/snapshots/<rev>`)
 * may also point into its own repository's `blobs/` folder: that is how the cache stores files.
 */
export async function containedRealPath(dir: string, path: string): Promise<string> {
  let realDir: string, real: string;
  try {
    realDir = await Deno.realPath(dir);
    real = await Deno.realPath(path);
  } catch (e) {
    throw new ResolveError(
      `${path}: cannot resolve its real path (${(e as Error).message}); refused (a model ` +
        `directory's files must resolve inside it)`,
      { cause: e },
    );
  }
  if (within(real, realDir)) return real;
  const snapshot = /^(.*\/models--[^/]+)\/snapshots\/[^/]+$/.exec(realDir);
  if (snapshot && within(real, `${snapshot[1]}/blobs`)) return real;
  throw new ResolveError(
    `${path}: resolves to ${real}, outside the model directory ${realDir}; refused (a model ` +
      `directory's files, or the symlinks among them, must stay inside it)`,
  );
}
