/**
 * The SentencePiece `.model` file (a `ModelProto` protobuf) read without the C++ library: the
 * pieces with their scores and types, and the trainer/normalizer options the tokenizers use.
 *
 * @module
 */
import { TokenizerError } from "./errors.ts";
import { fieldFloat, fieldString, type ProtoField, readFields } from "./_protobuf.ts";

/** SentencePiece piece types (`ModelProto.SentencePiece.Type`). */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** One vocabulary entry of a SentencePiece model. */
export interface SentencePiece {
  /** The piece text (`▁` stands for a space). */
  piece: string;
  /** Log-probability (unigram) or merge priority (BPE). */
  score: number;
  /** One of {@linkcode PieceType}. */
  type: number;
}

/** The parts of `ModelProto` the tokenizer uses. */
export interface SentencePieceModelProto {
  /** Vocabulary, id = index. */
  pieces: SentencePiece[];
  /** `TrainerSpec.model_type`: 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  /** `TrainerSpec.byte_fallback`. */
  byteFallback: boolean;
  /** `TrainerSpec.treat_whitespace_as_suffix`. */
  treatWhitespaceAsSuffix: boolean;
  /** `NormalizerSpec.name` (e.g. `nmt_nfkc`). */
  normalizerName: string;
  /** `NormalizerSpec.precompiled_charsmap` (may be empty: identity). */
  precompiledCharsmap: Uint8Array;
  /** `NormalizerSpec.add_dummy_prefix` (default true). */
  addDummyPrefix: boolean;
  /** `NormalizerSpec.remove_extra_whitespaces` (default true). */
  removeExtraWhitespaces: boolean;
  /** `NormalizerSpec.escape_whitespaces` (default true). */
  escapeWhitespaces: boolean;
}

/**
 * Parses the bytes of a SentencePiece `.model` file.
 *
 * @example
 * ```ts
 * import { parseSentencePieceModel } from "@encdec/tokenization";
 * const proto = parseSentencePieceModel(await Deno.readFile("spiece.model"));
 * console.log(proto.pieces.length);
 * ```
 */
export function parseSentencePieceModel(
  bytes: Uint8Array,
  file = "spiece.model",
): SentencePieceModelProto {
  const top = readFields(bytes, file);
  const pieces: SentencePiece[] = [];
  const proto: SentencePieceModelProto = {
    pieces,
    modelType: 1,
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    normalizerName: "",
    precompiledCharsmap: new Uint8Array(),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const bool = (f: ProtoField) => f.varint !== undefined && f.varint !== 0n;
  for (const f of top) {
    if (f.wire !== 2 && (f.field === 1 || f.field === 2 || f.field === 3)) {
      throw new TokenizerError(
        `${file}: malformed ModelProto (field ${f.field} has wire type ${f.wire}, expected 2)`,
      );
    }
    if (f.field === 1) {
      const p: SentencePiece = { piece: "", score: 0, type: PieceType.NORMAL };
      for (const g of readFields(f.bytes!, `${file} piece ${pieces.length}`)) {
        if (g.field === 1 && g.wire === 2) p.piece = fieldString(g);
        else if (g.field === 2 && g.wire === 5) p.score = fieldFloat(g);
        else if (g.field === 3 && g.wire === 0) p.type = Number(g.varint);
      }
      pieces.push(p);
    } else if (f.field === 2) {
      for (const g of readFields(f.bytes!, `${file} trainer_spec`)) {
        if (g.field === 3 && g.wire === 0) proto.modelType = Number(g.varint);
        else if (g.field === 35 && g.wire === 0) proto.byteFallback = bool(g);
        else if (g.field === 24 && g.wire === 0) proto.treatWhitespaceAsSuffix = bool(g);
      }
    } else if (f.field === 3) {
      for (const g of readFields(f.bytes!, `${file} normalizer_spec`)) {
        if (g.field === 1 && g.wire === 2) proto.normalizerName = fieldString(g);
        else if (g.field === 2 && g.wire === 2) proto.precompiledCharsmap = g.bytes!;
        else if (g.field === 3 && g.wire === 0) proto.addDummyPrefix = bool(g);
        else if (g.field === 4 && g.wire === 0) proto.removeExtraWhitespaces = bool(g);
        else if (g.field === 5 && g.wire === 0) proto.escapeWhitespaces = bool(g);
      }
    }
  }
  if (pieces.length === 0) {
    throw new TokenizerError(`${file}: no pieces found; expected a SentencePiece ModelProto`);
  }
  // sentencepiece always writes trainer_spec and normalizer_spec after the pieces; a file that
  // ends at a field boundary before them was cut short.
  if (!top.some((f) => f.field === 2) || !top.some((f) => f.field === 3)) {
    throw new TokenizerError(
      `${file}: truncated SentencePiece model (${pieces.length} pieces, but no trainer_spec/normalizer_spec)`,
    );
  }
  return proto;
}
