/**
 * Builds the Debian package-description summarization corpus used to train encdec's built-in
 * default model: each package's long description (the input) and its one-line synopsis (the
 * reference summary), from Debian's `Translation-en` files.
 *
 * Prerequisite (as root): `apt-get update -o Acquire::Languages=en` (fetches `Translation-en`).
 * Run: `deno run --allow-read --allow-write --allow-run scripts/debian_corpus.ts [outDir]`
 * (default `data/debian`). Writes `train.jsonl`, `validation.jsonl`, `test.jsonl` and
 * `stats.json`; one JSON object a line: `{ "source", "package", "text", "summary" }`.
 *
 * - The source package of each binary package comes from the `Packages` index (`Source:` field;
 *   the package's own name when absent); the split is by source package (FNV-1a hash: 90 % train,
 *   5 % validation, 5 % test), so related packages never straddle splits.
 * - Boilerplate is dropped: descriptions shorter than 8 words, synopses shorter than 2 words, and
 *   every description whose text is shared by packages with different synopses (debug symbols,
 *   "transitional dummy package", data/common splits of one source) — kept once only when all
 *   its packages agree on the synopsis.
 * The corpus itself is not committed; this script regenerates it.
 *
 * @module
 */

const LISTS = "/var/lib/apt/lists";

async function catIndex(path: string): Promise<string> {
  // apt stores its lists compressed (lz4/gz/xz); apt-helper knows how to read each one.
  const out = await new Deno.Command("/usr/lib/apt/apt-helper", { args: ["cat-file", path] })
    .output();
  if (!out.success) {
    throw new Error(`apt-helper cat-file ${path} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function* records(text: string): Generator<string[]> {
  let cur: string[] = [];
  for (const line of text.split("\n")) {
    if (line === "") {
      if (cur.length) yield cur;
      cur = [];
    } else cur.push(line);
  }
  if (cur.length) yield cur;
}

/** FNV-1a 32-bit hash: a stable split key. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function words(s: string): number {
  return s.split(/\s+/).filter(Boolean).length;
}

async function main(outDir: string) {
  const files = [...Deno.readDirSync(LISTS)].map((e) => e.name);
  const translations = files.filter((f) => /_i18n_Translation-en(\.|$)/.test(f));
  const packagesFiles = files.filter((f) => /_binary-[^_]+_Packages(\.|$)/.test(f));
  if (translations.length === 0) {
    throw new Error(
      `no Translation-en index in ${LISTS}: run 'apt-get update -o Acquire::Languages=en' first`,
    );
  }

  const sourceOf = new Map<string, string>();
  for (const f of packagesFiles) {
    for (const rec of records(await catIndex(`${LISTS}/${f}`))) {
      let pkg = "", src = "";
      for (const line of rec) {
        if (line.startsWith("Package: ")) pkg = line.slice(9).trim();
        else if (line.startsWith("Source: ")) src = line.slice(8).trim().split(" ")[0];
      }
      if (pkg) sourceOf.set(pkg, src || pkg);
    }
  }

  // description text → the packages and synopses that use it
  const byText = new Map<string, { pkgs: string[]; synopses: Set<string> }>();
  let total = 0;
  for (const f of translations) {
    for (const rec of records(await catIndex(`${LISTS}/${f}`))) {
      let pkg = "", synopsis = "";
      const body: string[] = [];
      let inDesc = false;
      for (const line of rec) {
        if (line.startsWith("Package: ")) pkg = line.slice(9).trim();
        else if (line.startsWith("Description-en: ")) {
          synopsis = line.slice(16).trim();
          inDesc = true;
        } else if (inDesc && line.startsWith(" ")) {
          const l = line.slice(1);
          body.push(l.trim() === "." ? "\n" : l.trim());
        } else inDesc = false;
      }
      if (!pkg || !synopsis) continue;
      total++;
      const text = body.join(" ").replace(/ ?\n ?/g, "\n").replace(/[ \t]+/g, " ").trim();
      if (words(text) < 8 || words(synopsis) < 2) continue;
      const entry = byText.get(text) ?? { pkgs: [], synopses: new Set<string>() };
      entry.pkgs.push(pkg);
      entry.synopses.add(synopsis);
      byText.set(text, entry);
    }
  }

  const splits: Record<string, string[]> = { train: [], validation: [], test: [] };
  const seenPairs = new Set<string>();
  let dropped = 0;
  for (const [text, { pkgs, synopses }] of byText) {
    if (synopses.size !== 1) {
      dropped += pkgs.length;
      continue;
    }
    const summary = [...synopses][0];
    const key = `${text}\u0000${summary}`;
    if (seenPairs.has(key)) continue;
    seenPairs.add(key);
    const pkg = pkgs.sort()[0];
    const source = sourceOf.get(pkg) ?? pkg;
    const bucket = fnv1a(source) % 100;
    const split = bucket < 90 ? "train" : bucket < 95 ? "validation" : "test";
    splits[split].push(JSON.stringify({ source, package: pkg, text, summary }));
  }

  await Deno.mkdir(outDir, { recursive: true });
  for (const [name, rows] of Object.entries(splits)) {
    await Deno.writeTextFile(`${outDir}/${name}.jsonl`, rows.join("\n") + "\n");
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const all = Object.values(splits).flat().map((r) => JSON.parse(r));
  const stats = {
    records: total,
    pairs: all.length,
    droppedSharedDescriptions: dropped,
    train: splits.train.length,
    validation: splits.validation.length,
    test: splits.test.length,
    medianTextWords: median(all.map((r) => words(r.text))),
    medianSummaryWords: median(all.map((r) => words(r.summary))),
  };
  await Deno.writeTextFile(`${outDir}/stats.json`, JSON.stringify(stats, null, 2) + "\n");
  console.log(JSON.stringify(stats));
}

if (import.meta.main) await main(Deno.args[0] ?? "data/debian");
