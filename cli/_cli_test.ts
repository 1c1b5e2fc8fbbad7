// formatError: a permission denial is named with the way to allow it, also when another error
// wraps it (a denied read or connection is never reported only as "not found" / "cannot reach").
import { assertEquals } from "@std/assert";
import { EncdecError } from "@encdec/config";
import { formatError, UsageError } from "./_cli.ts";

const NET = 'Requires net access to "cdn.mirror.example:443", run again with the --allow-net flag';
const READ = 'Requires read access to "/data/m/config.json", run again with the --allow-read flag';

Deno.test("formatError: bare and wrapped denials name the access and the fix; other errors by message", () => {
  assertEquals(
    formatError(new Deno.errors.NotCapable(NET)),
    'encdec: error: net access to "cdn.mirror.example:443" is not permitted for this call ' +
      "(least-privilege permissions): deno task encdec allows only the Hub's hosts or " +
      "HF_ENDPOINT's; for a mirror whose files redirect elsewhere set " +
      "ENCDEC_ALLOW_HOSTS=cdn.mirror.example:443",
  );
  const wrapped = new EncdecError("hub: cannot reach the mirror for org/x (fetch failed)", {
    cause: new TypeError("fetch failed", { cause: new Deno.errors.NotCapable(NET) }),
  });
  assertEquals(
    formatError(wrapped),
    "encdec: error: hub: cannot reach the mirror for org/x (fetch failed) (net access to " +
      '"cdn.mirror.example:443" is not permitted for this call (least-privilege permissions): ' +
      "deno task encdec allows only the Hub's hosts or HF_ENDPOINT's; for a mirror whose files " +
      "redirect elsewhere set ENCDEC_ALLOW_HOSTS=cdn.mirror.example:443)",
  );
  assertEquals(
    formatError(
      new EncdecError("config.json: file not found", {
        cause: new Deno.errors.NotCapable(READ),
      }),
    ),
    'encdec: error: config.json: file not found (read access to "/data/m/config.json" is not ' +
      "permitted for this call (least-privilege permissions): deno task encdec grants the paths " +
      "named on the command line and the Hub cache; started by hand, add " +
      "--allow-read=/data/m/config.json)",
  );
  assertEquals(formatError(new UsageError("run: bad\n  option")), "encdec: error: run: bad option");
  assertEquals(
    formatError(new RangeError("x")),
    "encdec: unexpected error: RangeError: x (set ENCDEC_DEBUG=1 for details)",
  );
});
