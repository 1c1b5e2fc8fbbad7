/**
 * Entry point of the `encdec` command line.
 *
 * @module
 */
if (import.meta.main) {
  console.error("encdec: the command line is not assembled yet");
  Deno.exit(2);
}
