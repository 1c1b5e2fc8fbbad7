/**
 * `@encdec/tokenization`: the tokenizers encoder-decoder checkpoints ship with (WordPiece,
 * SentencePiece unigram, byte-level BPE, `tokenizer.json`) with Hugging Face semantics.
 *
 * @module
 */
export {};
