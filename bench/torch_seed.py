"""The seed's command in PyTorch, for issue 18 goal 1: what `encdec run --task summarization
--model <dir>` does, as transformers 4.40 would do it in a fresh process.

Loads `pytorch_model.bin` with `torch.load` (fp16 -> float32, as `from_pretrained` does with the
default dtype), tokenizes stdin with BERT's uncased WordPiece (`vocab.txt`; no `transformers` or
`tokenizers` package here, so the basic + WordPiece tokenizer is written below), generates with
the checkpoint's settings (`generation_config.json`: beams, max_length, min_length,
no_repeat_ngram_size, length_penalty, early_stopping) following transformers 4.40's
`_beam_search` / `BeamSearchScorer`, decodes (skip special tokens, clean up spaces) and prints the
summary. The model is bench/torch_ref.py's eager bert2bert (2 threads).

With `--max-new-tokens N` the checkpoint's `max_length` becomes 1 + N, as transformers does for
an encoder-decoder (the decoder starts with one token); with `--dtype int8` every linear layer is
quantized after loading as a PyTorch user does it (`quantize_dynamic`, per-channel int8 weights).
A folder with no `pytorch_model.bin` is read from its `model.safetensors` (float32).
`bench/first_token.ts` uses both for PyTorch's time to first token.

Usage: /usr/bin/python3 bench/torch_seed.py <model dir> [--max-new-tokens N] [--dtype int8] < article.txt
Prints the summary on stdout and one JSON line of timings on stderr.
"""
import json
import os
import sys
import time
import unicodedata

T0 = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_ref import Bert2Bert, load_safetensors  # noqa: E402  (sets 2 threads, no grad)


# ---- BERT uncased tokenizer (BasicTokenizer + WordpieceTokenizer) ------------------------------


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        out.append(f" {ch} " if is_cjk(cp) else (" " if ch.isspace() else ch))
    words = []
    for w in "".join(out).split():
        w = unicodedata.normalize("NFD", w.lower())
        w = "".join(c for c in w if unicodedata.category(c) != "Mn")
        cur = ""
        for c in w:
            if is_punct(c):
                if cur:
                    words.append(cur)
                words.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = ("##" if start > 0 else "") + word[start:end]
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def tokenize(text, vocab, max_len):
    ids = [vocab[p] for w in basic_tokens(text) for p in wordpiece(w, vocab)]
    ids = ids[: max_len - 2]
    return [vocab["[CLS]"]] + ids + [vocab["[SEP]"]]


def decode(ids, inv, special):
    toks = [inv[i] for i in ids if i not in special]
    text = " ".join(toks).replace(" ##", "").strip()
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


# ---- transformers 4.40 beam search with the checkpoint's processors -----------------------------


def banned_ngrams(row, n):
    """NoRepeatNGramLogitsProcessor for one row (a list of ids)."""
    cur = len(row)
    if cur + 1 < n:
        return []
    seen = {}
    for i in range(cur - n + 1):
        seen.setdefault(tuple(row[i:i + n - 1]), []).append(row[i + n - 1])
    return seen.get(tuple(row[cur + 1 - n:cur]), [])


def encode(model, ids, timer):
    """The encoder output and mask of `ids` (one row, no padding), timed into `timer`."""
    mask = torch.ones_like(ids)
    t = time.perf_counter()
    hidden = model.encode(ids, mask)
    timer["encode"] = time.perf_counter() - t
    return hidden, mask


def process(s, rows, g):
    """The checkpoint's processors on log-probs `s` `[len(rows), vocab]` in place: min length
    (no EOS before `min_length`) and no-repeat n-grams of each row (a list of ids)."""
    if len(rows[0]) < g.get("min_length", 0):
        s[:, g["eos_token_id"]] = -float("inf")
    ngram = g.get("no_repeat_ngram_size", 0)
    if ngram:
        for r, row in enumerate(rows):
            for tok in banned_ngrams(row, ngram):
                s[r, tok] = -float("inf")


def greedy(model, ids, g, timer):
    """transformers 4.40's `_greedy_search` (num_beams 1) with the same processors."""
    eos, start, max_len = g["eos_token_id"], g["decoder_start_token_id"], g.get("max_length", 20)
    hidden, mask = encode(model, ids, timer)
    seq, cache, steps, decode_s, score = [start], None, 0, 0.0, 0.0
    while len(seq) < max_len:
        t = time.perf_counter()
        logits, cache = model.decode(torch.tensor([seq[-1:]]), hidden, mask, cache)
        decode_s += time.perf_counter() - t
        steps += 1
        s = F.log_softmax(logits[:, -1, :], dim=-1)
        process(s, [seq], g)
        tok = int(torch.argmax(s[0]))
        score += float(s[0, tok])
        seq.append(tok)
        if tok == eos:
            break
    timer.update(decode=decode_s, steps=steps)
    return seq, score


def beam_search(model, ids, g, timer):
    """transformers 4.40's `_beam_search` with `early_stopping=True` (the seed's setting)."""
    beams, eos, pad = g["num_beams"], g["eos_token_id"], g.get("pad_token_id", 0)
    start, max_len = g["decoder_start_token_id"], g.get("max_length", 20)
    lp = g.get("length_penalty", 1.0)
    hidden, mask = encode(model, ids, timer)
    hidden, mask = hidden.repeat_interleave(beams, 0), mask.repeat_interleave(beams, 0)
    seq = torch.full((beams, 1), start, dtype=torch.long)
    scores_b = torch.zeros(beams)
    scores_b[1:] = -1e9
    hyps = []  # (score, tokens)
    cache, steps, decode_s = None, 0, 0.0

    def add(tokens, score, gen_len):
        hyps.append((score / (gen_len ** lp), tokens))
        hyps.sort(key=lambda h: -h[0])
        del hyps[beams:]

    done = False
    while seq.shape[1] < max_len:
        t = time.perf_counter()
        logits, cache = model.decode(seq[:, -1:], hidden, mask, cache)
        decode_s += time.perf_counter() - t
        steps += 1
        s = F.log_softmax(logits[:, -1, :], dim=-1)
        cur = seq.shape[1]
        process(s, seq.tolist(), g)
        s = (s + scores_b[:, None]).view(1, -1)
        top_s, top = torch.topk(s, 2 * beams, dim=1, largest=True, sorted=True)
        top_beam, top_tok = torch.div(top, model.vocab, rounding_mode="floor"), top % model.vocab
        nxt_s, nxt_t, nxt_i = [], [], []
        for rank in range(2 * beams):
            tok, sc, row = int(top_tok[0, rank]), float(top_s[0, rank]), int(top_beam[0, rank])
            if tok == eos:
                if rank < beams:
                    add(seq[row].clone(), sc, cur + 1 - 1)  # generated_len = cur_len + 1 - prompt
                continue
            nxt_s.append(sc)
            nxt_t.append(tok)
            nxt_i.append(row)
            if len(nxt_t) == beams:
                break
        done = len(hyps) >= beams  # early_stopping=True
        scores_b = torch.tensor(nxt_s)
        src = torch.tensor(nxt_i)
        seq = torch.cat([seq.index_select(0, src), torch.tensor(nxt_t)[:, None]], dim=1)
        if not torch.equal(src, torch.arange(beams)):
            cache = ([(k.index_select(0, src), v.index_select(0, src)) for k, v in cache[0]],
                     [(k.index_select(0, src), v.index_select(0, src)) for k, v in cache[1]])
        if done:
            break
    if not done:
        for r in range(beams):
            add(seq[r].clone(), float(scores_b[r]), seq.shape[1] - 1)
    best = hyps[0][1].tolist()
    if len(best) < max_len:
        best.append(eos)
    timer.update(decode=decode_s, steps=steps)
    return best, hyps[0][0]


def option(name, default=None):
    args = sys.argv[2:]
    return args[args.index(name) + 1] if name in args else default


def main():
    d = sys.argv[1]
    text = sys.stdin.read()
    t = time.perf_counter()
    with open(f"{d}/config.json") as f:
        config = json.load(f)
    with open(f"{d}/generation_config.json") as f:
        gen = json.load(f)
    max_new = option("--max-new-tokens")
    if max_new is not None:
        gen["max_length"] = 1 + int(max_new)
    if os.path.exists(f"{d}/pytorch_model.bin"):
        sd = torch.load(f"{d}/pytorch_model.bin", map_location="cpu")
        sd = {k: v.float() for k, v in sd.items()}
    else:
        sd = load_safetensors(f"{d}/model.safetensors")
    if config.get("tie_encoder_decoder"):  # the encoder's weights are saved once, as the decoder's
        for k in [k for k in sd if k.startswith("decoder.bert.")]:
            sd.setdefault("encoder." + k[len("decoder.bert."):], sd[k])
    model = Bert2Bert(sd, config)
    if option("--dtype", "float32") == "int8":
        model.int8()
    with open(f"{d}/vocab.txt", encoding="utf-8") as f:
        vocab = {w.rstrip("\n"): i for i, w in enumerate(f)}
    with open(f"{d}/tokenizer_config.json") as f:
        max_len = json.load(f).get("model_max_length", 512)
    load_s = time.perf_counter() - t
    timer = {}
    t = time.perf_counter()
    ids = torch.tensor([tokenize(text, vocab, max_len)])
    with torch.inference_mode():
        search = beam_search if gen.get("num_beams", 1) > 1 else greedy
        out, score = search(model, ids, gen, timer)
    inv = {i: w for w, i in vocab.items()}
    special = {vocab[s] for s in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")}  # all_special_ids
    summary = decode(out, inv, special)
    gen_s = time.perf_counter() - t
    print(summary)
    print(json.dumps({
        "inputTokens": ids.shape[1], "outputIds": out, "score": score, "loadS": load_s,
        "generateS": gen_s, "steps": timer["steps"], "decodeS": timer["decode"],
        "encodeS": timer["encode"], "processS": time.perf_counter() - T0,
    }), file=sys.stderr)


if __name__ == "__main__":
    main()
