/**
 * `truncateToTokens`: the bounded-cost prefix gives exactly the same truncated encoding as
 * tokenizing the whole text (token-id equality), for WordPiece, SentencePiece and byte-level BPE.
 */
import { assertEquals } from "@std/assert";
import { AutoTokenizer } from "@encdec/tokenization";
import { truncateToTokens } from "./_truncate.ts";

const FIX = new URL("../tests/testdata/fixtures/", import.meta.url).pathname;

const TEXTS = [
  "The quick brown fox sat on the old mat.  ".repeat(400),
  "word\n\n\tword   word ".repeat(500),
  "Ünïcödé — 東京 🦊 fox ".repeat(300),
  "x".repeat(5000), // no whitespace at all
  "🦊".repeat(3000), // surrogate pairs, no whitespace
  "short text",
];

for (const dir of ["bert2bert", "bertgeneration", "tokenizers/gpt2"]) {
  Deno.test(`truncateToTokens (${dir}): same first tokens as truncating the whole text`, async () => {
    const tok = await AutoTokenizer.fromPretrained(`${FIX}${dir}`);
    for (const text of TEXTS) {
      for (const max of [8, 64, 300]) {
        const cut = truncateToTokens(tok, text, max);
        const full = tok.call(text, { truncation: true, maxLength: max }).inputIds;
        assertEquals(tok.call(cut, { truncation: true, maxLength: max }).inputIds, full);
        assertEquals(text.startsWith(cut), true);
      }
    }
  });
}
