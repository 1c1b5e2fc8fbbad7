/**
 * The comparison of one tokenizer with one case of the golden tables (`tokenization.json`,
 * `tokenization_families.json`; transformers 4.40.2 slow tokenizers): every cell exact.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import type { PreTrainedTokenizer } from "../mod.ts";

interface Row {
  text: string;
  tokens: string[];
  input_ids: number[];
  decode: string;
  decode_skip_special: string;
  truncated_16: number[];
}
interface PairRow {
  text: string;
  text_pair: string;
  input_ids: number[];
  token_type_ids: number[] | null;
  truncated_16: { input_ids: number[]; token_type_ids: number[] | null };
  decode: string;
}
/** One tokenizer's table. */
export interface Case {
  texts: Row[];
  pairs: PairRow[];
  batch_padding: {
    texts: string[];
    input_ids: number[][];
    attention_mask: number[][];
    token_type_ids: number[][] | null;
  };
  batch_padding_truncation: { texts: string[]; input_ids: number[][]; attention_mask: number[][] };
  special_ids: Record<string, number | null>;
  vocab_size_len: number;
}

/** Checks one tokenizer against one fixture case; exact equality everywhere. */
export function checkCase(
  tok: PreTrainedTokenizer,
  c: Case,
  label: string,
  checkDecode = true,
  unknownAsUnkToken = false,
): void {
  for (const r of c.texts) {
    const what = `${label} ${JSON.stringify(r.text)}`;
    // `tokenizers` BPE writes an unknown piece as the unk token, the slow tokenizer as its text.
    const unk = tok.unkTokenId;
    const tokens = unknownAsUnkToken
      ? r.tokens.map((t) => tok.convertTokenToId(t) === unk ? tok.unkToken! : t)
      : r.tokens;
    assertEquals(tok.tokenize(r.text), tokens, `${what}: tokens`);
    const ids = tok.call(r.text).inputIds;
    assertEquals(ids, r.input_ids, `${what}: input_ids`);
    if (checkDecode) assertEquals(tok.decode(ids), r.decode, `${what}: decode`);
    assertEquals(
      tok.decode(ids, { skipSpecialTokens: true }),
      r.decode_skip_special,
      `${what}: decode_skip_special`,
    );
    assertEquals(
      tok.call(r.text, { truncation: true, maxLength: 16 }).inputIds,
      r.truncated_16,
      `${what}: truncated_16`,
    );
  }
  for (const p of c.pairs) {
    const what = `${label} pair ${JSON.stringify(p.text)}`;
    const e = tok.call(p.text, { textPair: p.text_pair });
    assertEquals(e.inputIds, p.input_ids, `${what}: input_ids`);
    assertEquals(e.tokenTypeIds ?? null, p.token_type_ids, `${what}: token_type_ids`);
    const e16 = tok.call(p.text, { textPair: p.text_pair, truncation: true, maxLength: 16 });
    assertEquals(e16.inputIds, p.truncated_16.input_ids, `${what}: truncated input_ids`);
    assertEquals(
      e16.tokenTypeIds ?? null,
      p.truncated_16.token_type_ids,
      `${what}: truncated token_type_ids`,
    );
    if (checkDecode) assertEquals(tok.decode(e.inputIds), p.decode, `${what}: decode`);
  }
  const b = tok.call(c.batch_padding.texts, { padding: "longest" });
  assertEquals(b.inputIds, c.batch_padding.input_ids, `${label} batch input_ids`);
  assertEquals(b.attentionMask, c.batch_padding.attention_mask, `${label} batch attention_mask`);
  assertEquals(
    b.tokenTypeIds ?? null,
    c.batch_padding.token_type_ids,
    `${label} batch token_type_ids`,
  );
  const bt = tok.call(c.batch_padding_truncation.texts, {
    padding: "longest",
    truncation: true,
    maxLength: 8,
  });
  assertEquals(bt.inputIds, c.batch_padding_truncation.input_ids, `${label} batch+trunc input_ids`);
  assertEquals(
    bt.attentionMask,
    c.batch_padding_truncation.attention_mask,
    `${label} batch+trunc attention_mask`,
  );
  const ids: Record<string, number | null> = {
    bos_token_id: tok.bosTokenId,
    eos_token_id: tok.eosTokenId,
    pad_token_id: tok.padTokenId,
    unk_token_id: tok.unkTokenId,
    cls_token_id: tok.clsTokenId,
    sep_token_id: tok.sepTokenId,
    mask_token_id: tok.maskTokenId,
  };
  assertEquals(ids, c.special_ids, `${label} special ids`);
  assertEquals(tok.length, c.vocab_size_len, `${label} len(tokenizer)`);
}
