/**
 * `encdec download`: fetches a Hub model into the shared Hugging Face cache and prints the
 * snapshot folder.
 *
 * @module
 */
import { hubCacheDir, snapshotDownload, validateRepoId } from "@encdec/config";
import {
  AccessDeniedError,
  type Command,
  EXIT_OK,
  parseCommandArgs,
  str,
  UsageError,
  writeOut,
} from "../_cli.ts";

const HELP = `encdec download: download a Hub model into the Hugging Face cache

Usage: encdec download <org/name> [--revision <rev>] [--include <glob>]... [--exclude <glob>]...

Downloads the files of a model repository (verified, resumable) into the cache shared with
Python huggingface_hub ($HF_HUB_CACHE, default $HF_HOME/hub) and prints the snapshot folder.
HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE apply.

Options
  --revision <rev>     branch, tag or commit (default main)
  --include <glob>     only files matching (repeatable), e.g. --include "*.json"
  --exclude <glob>     skip files matching (repeatable)
  -q, --quiet          no progress bars
  -h, --help           this help

Exit status: 0 ok, 1 Hub or cache error, 2 usage error.`;

/** `encdec download`. */
export const downloadCommand: Command = {
  name: "download",
  summary: "download a Hub model into the Hugging Face cache",
  help: HELP,
  async run(args) {
    const p = parseCommandArgs("download", args, {
      revision: { type: "string" },
      include: { type: "string", multiple: true },
      exclude: { type: "string", multiple: true },
      quiet: { type: "boolean", short: "q" },
    });
    if (p.values.help) {
      await writeOut(HELP + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length !== 1) {
      throw new UsageError(
        `download: expected one model id (org/name), got ${p.positionals.length}; see encdec download --help`,
      );
    }
    const id = p.positionals[0];
    validateRepoId(id);
    const cache = hubCacheDir();
    if (Deno.permissions.querySync({ name: "write", path: cache }).state !== "granted") {
      throw new AccessDeniedError(
        `the Hub cache "${cache}" is not writable with the current permissions; add --allow-write=${cache}`,
      );
    }
    const folder = await snapshotDownload(id, {
      revision: str(p, "revision"),
      allowPatterns: p.values.include as string[] | undefined,
      ignorePatterns: p.values.exclude as string[] | undefined,
      quiet: p.values.quiet === true,
    });
    await writeOut(folder + "\n");
    return EXIT_OK;
  },
};
