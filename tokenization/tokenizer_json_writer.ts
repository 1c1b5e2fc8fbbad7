/**
 * Writes the slow tokenizers of this package as `tokenizer.json` objects that reproduce them
 * through `tokenizerFromJSON`: WordPiece (BERT, ELECTRA, DistilBERT), byte-level BPE
 * (GPT-2, RoBERTa, Longformer) and SentencePiece (BertGeneration, XLM-RoBERTa, CamemBERT), with
 * Hugging Face's converter layouts.
 *
 * @module
 */
import type { PreTrainedTokenizer } from "./base.ts";
import { BertTokenizer } from "./bert.ts";
import { GPT2Tokenizer, RobertaTokenizer } from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import { CamembertTokenizer, XLMRobertaTokenizer } from "./fairseq_sentencepiece.ts";
import { BertGenerationTokenizer, SPACE_SYMBOL } from "./sentencepiece.ts";
import { PieceType } from "./sentencepiece_proto.ts";
import type { Json } from "./_pipeline.ts";

function addedTokensJSON(tok: PreTrainedTokenizer): Json[] {
  return [...tok.addedTokensDecoder].sort((a, b) => a[0] - b[0]).map(([id, t]) => ({
    id,
    content: t.content,
    single_word: t.singleWord,
    lstrip: t.lstrip,
    rstrip: t.rstrip,
    normalized: t.normalized,
    special: t.special,
  }));
}

function encodeBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function special(t: string, typeId: number): Json {
  return { SpecialToken: { id: t, type_id: typeId } };
}
function seq(id: "A" | "B", typeId: number): Json {
  return { Sequence: { id, type_id: typeId } };
}

/**
 * Writes a slow tokenizer of this package as a `tokenizer.json` object that reproduces it:
 * BERT / ELECTRA / DistilBERT (normalizers chosen to match the slow BasicTokenizer, including
 * its NFC step), GPT-2 / RoBERTa / Longformer (byte-level BPE), and BertGeneration, XLM-RoBERTa
 * and CamemBERT (precompiled charsmap + Metaspace + Unigram or BPE, fairseq ids).
 *
 * @example
 * ```ts
 * import { BertTokenizer, toTokenizerJSON, tokenizerFromJSON } from "@encdec/tokenization";
 * const slow = BertTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi"]);
 * const fast = tokenizerFromJSON(toTokenizerJSON(slow), { unk_token: "[UNK]", cls_token: "[CLS]", sep_token: "[SEP]" });
 * fast.encode("hi"); // [2, 4, 3]
 * ```
 */
export function toTokenizerJSON(tok: PreTrainedTokenizer): Record<string, unknown> {
  const base: Json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokensJSON(tok),
  };
  if (tok instanceof BertTokenizer) return { ...base, ...wordPieceJSON(tok) };
  if (tok instanceof GPT2Tokenizer) return { ...base, ...byteLevelJSON(tok) };
  if (
    tok instanceof BertGenerationTokenizer || tok instanceof XLMRobertaTokenizer ||
    tok instanceof CamembertTokenizer
  ) {
    return { ...base, ...sentencePieceJSON(tok) };
  }
  throw new TokenizerError(
    `toTokenizerJSON: ${tok.constructor.name} is not supported; expected a BertTokenizer, GPT2Tokenizer, RobertaTokenizer, BertGenerationTokenizer, XLMRobertaTokenizer or CamembertTokenizer (or a subclass)`,
  );
}

/**
 * The pipeline of a SentencePiece tokenizer: the model's normalizer (charsmap + whitespace
 * rules), Metaspace, and the model with the tokenizer's id layout (fairseq's for XLM-R and
 * CamemBERT, as HF's converters write it).
 */
function sentencePieceJSON(
  tok: BertGenerationTokenizer | XLMRobertaTokenizer | CamembertTokenizer,
): Json {
  const proto = tok.sp.proto;
  const normalizers: Json[] = [];
  if (proto.precompiledCharsmap.length > 0) {
    normalizers.push({
      type: "Precompiled",
      precompiled_charsmap: encodeBase64(proto.precompiledCharsmap),
    });
  }
  if (proto.removeExtraWhitespaces) {
    normalizers.push(
      { type: "Replace", pattern: { Regex: "^ +| +$" }, content: "" },
      { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
    );
  }
  const decoders: Json[] = [];
  if (proto.byteFallback) decoders.push({ type: "ByteFallback" });
  decoders.push(
    { type: "Metaspace", replacement: SPACE_SYMBOL, prepend_scheme: "always", split: false },
    // The slow tokenizers strip the decoded text (`out_string.strip()`).
    { type: "Fuse" },
    { type: "Strip", content: " ", start: 1_000_000, stop: 1_000_000 },
  );
  const score = (p: { score: number; type: number }) => p.type === PieceType.NORMAL ? p.score : 0;
  let model: Json;
  let post: Json | null = null;
  if (tok instanceof BertGenerationTokenizer) {
    model = {
      type: "Unigram",
      unk_id: tok.sp.unkId,
      byte_fallback: proto.byteFallback,
      vocab: proto.pieces.map((p) => [p.piece, score(p)]),
    };
  } else {
    const cls = tok.clsToken!;
    const sep = tok.sepToken!;
    post = {
      type: "TemplateProcessing",
      single: [special(cls, 0), seq("A", 0), special(sep, 0)],
      pair: [
        special(cls, 0),
        seq("A", 0),
        special(sep, 0),
        special(sep, 0),
        seq("B", 0),
        special(sep, 0),
      ],
      special_tokens: {
        [cls]: { id: cls, ids: [tok.clsTokenId], tokens: [cls] },
        [sep]: { id: sep, ids: [tok.sepTokenId], tokens: [sep] },
      },
    };
    // ids below the offset are the fixed fairseq tokens; piece i sits at i + offset.
    const first = tok instanceof XLMRobertaTokenizer ? 3 : 1;
    const vocab: [string, number][] = [];
    for (let id = 0; id < first + tok.fairseqOffset; id++) {
      vocab.push([tok.convertIdsToTokens([id])[0], 0]);
    }
    for (let i = first; i < proto.pieces.length; i++) {
      vocab.push([proto.pieces[i].piece, score(proto.pieces[i])]);
    }
    vocab.push([tok.maskToken!, 0]);
    model = proto.modelType === 1
      ? { type: "Unigram", unk_id: 3, byte_fallback: proto.byteFallback, vocab }
      : bpeFromSentencePiece(vocab, proto.byteFallback);
  }
  return {
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: {
      type: "Metaspace",
      replacement: SPACE_SYMBOL,
      prepend_scheme: proto.addDummyPrefix ? "always" : "never",
      split: false,
    },
    post_processor: post,
    decoder: { type: "Sequence", decoders },
    model,
  };
}

/**
 * A SentencePiece BPE vocabulary as a `tokenizers` BPE model (HF's `SentencePieceExtractor`):
 * every split of a piece into two pieces is a merge, ranked by the merged piece's score.
 */
function bpeFromSentencePiece(vocab: [string, number][], byteFallback: boolean): Json {
  const ids = new Map<string, number>();
  vocab.forEach(([p], i) => {
    if (!ids.has(p)) ids.set(p, i);
  });
  const merges: [string, string, number, number, number][] = [];
  vocab.forEach(([piece, score]) => {
    const cps = Array.from(piece);
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join("");
      const r = cps.slice(k).join("");
      const li = ids.get(l);
      const ri = ids.get(r);
      if (li !== undefined && ri !== undefined) merges.push([l, r, score, li, ri]);
    }
  });
  merges.sort((a, b) => b[2] - a[2] || a[3] - b[3] || a[4] - b[4]);
  return {
    type: "BPE",
    dropout: null,
    unk_token: "<unk>",
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: byteFallback,
    vocab: Object.fromEntries(ids),
    merges: merges.map(([l, r]) => `${l} ${r}`),
  };
}

/** BERT's pipeline: normalizers matching the slow BasicTokenizer (its NFC step included), WordPiece. */
function wordPieceJSON(tok: BertTokenizer): Json {
  const b = tok.basicTokenizer;
  const normalizers: Json[] = [{
    type: "BertNormalizer",
    clean_text: true,
    handle_chinese_chars: b?.tokenizeChineseChars ?? false,
    strip_accents: false,
    lowercase: false,
  }, { type: "NFC" }];
  if (b?.doLowerCase) normalizers.push({ type: "Lowercase" });
  if (b && (b.doLowerCase ? b.stripAccents !== false : b.stripAccents === true)) {
    normalizers.push({ type: "NFD" }, { type: "StripAccents" });
  }
  const cls = tok.clsToken!;
  const sep = tok.sepToken!;
  return {
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: b ? { type: "BertPreTokenizer" } : { type: "WhitespaceSplit" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special(cls, 0), seq("A", 0), special(sep, 0)],
      pair: [special(cls, 0), seq("A", 0), special(sep, 0), seq("B", 1), special(sep, 1)],
      special_tokens: {
        [cls]: { id: cls, ids: [tok.clsTokenId], tokens: [cls] },
        [sep]: { id: sep, ids: [tok.sepTokenId], tokens: [sep] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: tok.wordpiece.unkToken,
      continuing_subword_prefix: "##",
      max_input_chars_per_word: tok.wordpiece.maxInputCharsPerWord,
      vocab: Object.fromEntries(tok.vocab),
    },
  };
}

/** GPT-2 / RoBERTa's pipeline: byte-level pre-tokenizer and decoder, BPE with the merge ranks. */
function byteLevelJSON(tok: GPT2Tokenizer): Json {
  const merges = [...tok.bpe.ranks].sort((a, b) => a[1] - b[1]).map(([k]) => k);
  const roberta = tok instanceof RobertaTokenizer;
  let post: Json = {
    type: "ByteLevel",
    add_prefix_space: true,
    trim_offsets: false,
    use_regex: true,
  };
  if (roberta) {
    post = {
      type: "RobertaProcessing",
      sep: [tok.sepToken, tok.sepTokenId],
      cls: [tok.clsToken, tok.clsTokenId],
      trim_offsets: true,
      add_prefix_space: tok.addPrefixSpace,
    };
  } else if (tok.addBosToken) {
    const bos = tok.bosToken!;
    post = {
      type: "TemplateProcessing",
      single: [special(bos, 0), seq("A", 0)],
      pair: [special(bos, 0), seq("A", 0), special(bos, 1), seq("B", 1)],
      special_tokens: { [bos]: { id: bos, ids: [tok.bosTokenId], tokens: [bos] } },
    };
  }
  return {
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: tok.addPrefixSpace,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: post,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(tok.encoder),
      merges,
    },
  };
}
