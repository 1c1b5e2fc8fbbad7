"""PyTorch contender of the encdec benchmark suite: an eager bert2bert written here from scratch.

Loads the suite's `model.safetensors` (parsed with plain Python + torch.frombuffer: the
`safetensors` package is not installed) and runs the same workloads as the encdec workers:
encoder forward, greedy and beam search with a self-attention K/V cache (cross-attention K/V
computed once from the expanded encoder output, all cache rows reordered on beam selection),
the way transformers 4.40's `_beam_search` does it: per-step log_softmax over the vocabulary,
logits processors (MinNewTokensLength), top-k of 2 * beams over beams x vocab, a beam scorer
with early_stopping=True.

Usage (run by bench/run.ts; Debian's python3 with torch 1.13 on OpenBLAS, 2 threads):
  /usr/bin/python3 bench/torch_ref.py <plan.json> check <encdec_logits.f32>
  /usr/bin/python3 bench/torch_ref.py <plan.json> <workload>
  /usr/bin/python3 bench/torch_ref.py <plan.json> info
Prints one JSON line.
"""
import json
import math
import os
import re
import struct
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.set_grad_enabled(False)


def peak_rss():
    with open("/proc/self/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)\s+kB", f.read())
    return int(m.group(1)) * 1024 if m else 0


def load_safetensors(path):
    """Key -> float32 tensor viewing one buffer holding the whole file (no second copy; F16
    tensors are converted)."""
    size = os.path.getsize(path)
    buf = bytearray(size)
    with open(path, "rb") as f:
        f.readinto(buf)
    n = struct.unpack("<Q", bytes(buf[:8]))[0]
    header = json.loads(bytes(buf[8:8 + n]))
    base = 8 + n
    out = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        if e["dtype"] not in ("F32", "F16"):
            raise ValueError(f"{path}: {key} has dtype {e['dtype']}, expected F32 or F16")
        start, end = e["data_offsets"]
        dtype, size = (torch.float32, 4) if e["dtype"] == "F32" else (torch.float16, 2)
        t = torch.frombuffer(buf, dtype=dtype, count=(end - start) // size, offset=base + start)
        if (base + start) % size:
            t = t.clone()
        out[key] = t.view(e["shape"]).float()  # F16 -> float32, as from_pretrained's default dtype
    return out


# ---- the model ----------------------------------------------------------------------------------


class Linear:
    def __init__(self, sd, p, w=None, b=None):
        self.w, self.b = (w, b) if w is not None else (sd[p + ".weight"], sd[p + ".bias"])
        self.q = None

    def int8(self):
        """Dynamic int8 as a PyTorch user quantizes: `quantize_dynamic` with per-channel weights."""
        lin = torch.nn.Linear(self.w.shape[1], self.w.shape[0])
        lin.weight = torch.nn.Parameter(self.w, requires_grad=False)
        lin.bias = torch.nn.Parameter(self.b, requires_grad=False)
        spec = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
        self.q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), spec)[0]

    def __call__(self, x):
        return self.q(x) if self.q is not None else F.linear(x, self.w, self.b)


class LayerNorm:
    def __init__(self, sd, p, eps):
        self.w, self.b, self.eps = sd[p + ".weight"], sd[p + ".bias"], eps

    def __call__(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.w, self.b, self.eps)


class Attention:
    """BertSelfAttention + BertSelfOutput; `kv` given: keys/values come from it (cross)."""

    def __init__(self, sd, p, cfg):
        self.q, self.k, self.v = (Linear(sd, f"{p}.self.{n}") for n in ("query", "key", "value"))
        self.o = Linear(sd, f"{p}.output.dense")
        self.ln = LayerNorm(sd, f"{p}.output.LayerNorm", cfg["layer_norm_eps"])
        self.h = cfg["num_attention_heads"]
        self.d = cfg["hidden_size"] // self.h

    def heads(self, x):  # [b, t, h*d] -> [b, h, t, d]
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.d).transpose(1, 2)

    def project_kv(self, x):
        return self.heads(self.k(x)), self.heads(self.v(x))

    def __call__(self, x, mask, kv):
        q = self.heads(self.q(x))
        k, v = kv
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)  # [b, h, tq, tk]
        if mask is not None:
            scores = scores + mask
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(x.shape)  # [b, tq, h*d]
        return self.ln(self.o(ctx) + x)


class Layer:
    def __init__(self, sd, p, cfg, cross):
        self.attn = Attention(sd, f"{p}.attention", cfg)
        self.cross = Attention(sd, f"{p}.crossattention", cfg) if cross else None
        self.up = Linear(sd, f"{p}.intermediate.dense")
        self.down = Linear(sd, f"{p}.output.dense")
        self.ln = LayerNorm(sd, f"{p}.output.LayerNorm", cfg["layer_norm_eps"])

    def ffn(self, x):
        return self.ln(self.down(F.gelu(self.up(x))) + x)


def extended(mask):  # [b, s] 1/0 -> additive [b, 1, 1, s]
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


class Bert:
    def __init__(self, sd, p, cfg, decoder):
        e = f"{p}embeddings"
        self.word = sd[f"{e}.word_embeddings.weight"]
        self.pos = sd[f"{e}.position_embeddings.weight"]
        self.tok = sd[f"{e}.token_type_embeddings.weight"]
        self.ln = LayerNorm(sd, f"{e}.LayerNorm", cfg["layer_norm_eps"])
        self.layers = [
            Layer(sd, f"{p}encoder.layer.{i}", cfg, decoder) for i in range(cfg["num_hidden_layers"])
        ]

    def embed(self, ids, past_len):
        pos = torch.arange(past_len, past_len + ids.shape[1])
        return self.ln(self.word[ids] + self.pos[pos][None] + self.tok[0])


class Bert2Bert:
    def __init__(self, sd, config):
        ec, dc = config["encoder"], config["decoder"]
        self.encoder = Bert(sd, "encoder.", ec, decoder=False)
        self.decoder = Bert(sd, "decoder.bert.", dc, decoder=True)
        c = "decoder.cls.predictions"
        self.transform = Linear(sd, f"{c}.transform.dense")
        self.transform_ln = LayerNorm(sd, f"{c}.transform.LayerNorm", dc["layer_norm_eps"])
        self.lm_head = Linear(sd, None, self.decoder.word, sd[f"{c}.bias"])  # tied
        self.vocab = dc["vocab_size"]

    def int8(self):
        """Every linear layer dynamic int8 (`quantize_dynamic` would take the tied LM head too)."""
        for bert in (self.encoder, self.decoder):
            for layer in bert.layers:
                for a in (layer.attn, layer.cross) if layer.cross else (layer.attn,):
                    for lin in (a.q, a.k, a.v, a.o):
                        lin.int8()
                layer.up.int8()
                layer.down.int8()
        self.transform.int8()
        self.lm_head.int8()

    def encode(self, ids, mask):
        x = self.encoder.embed(ids, 0)
        m = extended(mask)
        for layer in self.encoder.layers:
            a = layer.attn
            x = layer.ffn(a(x, m, a.project_kv(x)))
        return x

    def decode(self, ids, enc_hidden, enc_mask, cache):
        """ids [b, t]; cache None or (self [(k, v)], cross [(k, v)]). Returns logits, cache."""
        past_len = cache[0][0][0].shape[2] if cache else 0
        x = self.decoder.embed(ids, past_len)
        t = ids.shape[1]
        causal = None
        if t > 1:
            causal = torch.full((t, past_len + t), torch.finfo(torch.float32).min).triu(past_len + 1)
        em = extended(enc_mask)
        new_self, new_cross = [], []
        for i, layer in enumerate(self.decoder.layers):
            a = layer.attn
            k, v = a.project_kv(x)
            if cache:
                k = torch.cat([cache[0][i][0], k], dim=2)
                v = torch.cat([cache[0][i][1], v], dim=2)
            new_self.append((k, v))
            x = a(x, causal, (k, v))
            ckv = cache[1][i] if cache else layer.cross.project_kv(enc_hidden)
            new_cross.append(ckv)
            x = layer.cross(x, em, ckv)
            x = layer.ffn(x)
        h = self.transform_ln(F.gelu(self.transform(x)))
        logits = self.lm_head(h)
        return logits, (new_self, new_cross)


def reorder(cache, rows):
    sel = lambda kv: (kv[0].index_select(0, rows), kv[1].index_select(0, rows))  # noqa: E731
    return [sel(kv) for kv in cache[0]], [sel(kv) for kv in cache[1]]


# ---- generation ---------------------------------------------------------------------------------


class Timer:
    def __init__(self):
        self.encode = self.decode = self.first = 0.0
        self.steps = 0


def min_new_tokens(scores, cur_new, min_new, eos):
    """transformers' MinNewTokensLengthLogitsProcessor."""
    if cur_new < min_new:
        scores[:, eos] = -float("inf")
    return scores


def generate(model, ids, plan, beams, new_tokens, timer):
    sp = plan["special"]
    eos, start = sp["eos"], sp["decoderStart"]
    mask = torch.ones_like(ids)
    t0 = time.perf_counter()
    hidden = model.encode(ids, mask)
    timer.encode += time.perf_counter() - t0
    batch = ids.shape[0]
    rows = torch.arange(batch).repeat_interleave(beams)
    hidden, mask = hidden.index_select(0, rows), mask.index_select(0, rows)
    seq = torch.full((batch * beams, 1), start, dtype=torch.long)
    cache = None

    def step(tokens, cache):
        t = time.perf_counter()
        logits, cache = model.decode(tokens, hidden, mask, cache)
        ms = time.perf_counter() - t
        timer.decode += ms
        if timer.steps == 0:
            timer.first = ms
        timer.steps += 1
        return logits[:, -1, :], cache

    if beams == 1:
        for i in range(new_tokens):
            logits, cache = step(seq[:, -1:], cache)
            scores = min_new_tokens(logits, i, new_tokens, eos)
            seq = torch.cat([seq, scores.argmax(-1, keepdim=True)], dim=1)
        return seq.tolist()

    vocab = model.vocab
    beam_scores = torch.zeros(batch, beams)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    hyps = [[] for _ in range(batch)]  # (score, tokens), best `beams` kept
    done = [False] * batch

    def add(b, tokens, score, gen_len):
        hyps[b].append((score / gen_len, tokens))  # length_penalty 1.0
        hyps[b].sort(key=lambda h: -h[0])
        del hyps[b][beams:]

    for i in range(new_tokens):
        logits, cache = step(seq[:, -1:], cache)
        scores = F.log_softmax(logits, dim=-1)
        scores = min_new_tokens(scores, i, new_tokens, eos)
        scores = (scores + beam_scores[:, None]).view(batch, beams * vocab)
        top_scores, top = torch.topk(scores, 2 * beams, dim=1, largest=True, sorted=True)
        top_beam, top_tok = torch.div(top, vocab, rounding_mode="floor"), top % vocab
        next_scores = torch.zeros(batch, beams)
        next_tok = torch.zeros(batch, beams, dtype=torch.long)
        next_idx = torch.zeros(batch, beams, dtype=torch.long)
        for b in range(batch):
            if done[b]:
                next_tok[b], next_idx[b] = sp["pad"], 0  # as transformers pads a finished item
                continue
            j = 0
            for rank in range(2 * beams):
                tok, sc, row = int(top_tok[b, rank]), float(top_scores[b, rank]), int(top_beam[b, rank])
                src = b * beams + row
                if tok == eos:
                    if rank < beams:
                        add(b, seq[src].clone(), sc, i + 1)
                    continue
                next_scores[b, j], next_tok[b, j], next_idx[b, j] = sc, tok, src
                j += 1
                if j == beams:
                    break
            done[b] = len(hyps[b]) >= beams  # early_stopping=True
        beam_scores = next_scores.view(-1)
        src_rows = next_idx.view(-1)
        seq = torch.cat([seq.index_select(0, src_rows), next_tok.view(-1, 1)], dim=1)
        if not torch.equal(src_rows, torch.arange(batch * beams)):
            cache = reorder(cache, src_rows)
        if all(done):
            break
    out = []
    for b in range(batch):
        if not done[b]:
            for r in range(beams):
                add(b, seq[b * beams + r].clone(), float(beam_scores[b * beams + r]), seq.shape[1] - 1)
        out.append(hyps[b][0][1].tolist())
    width = max(len(s) for s in out)
    return [s + [sp["pad"]] * (width - len(s)) for s in out]


# ---- entry points -------------------------------------------------------------------------------


def load(plan):
    t0 = time.perf_counter()
    d = plan["modelDir"]
    with open(f"{d}/config.json") as f:
        config = json.load(f)
    model = Bert2Bert(load_safetensors(f"{d}/model.safetensors"), config)
    return model, (time.perf_counter() - t0) * 1000


def check(plan, logits_path):
    model, _ = load(plan)
    ids = torch.tensor(plan["check"]["inputIds"])
    dec = torch.tensor(plan["check"]["decoderInputIds"])
    hidden = model.encode(ids, torch.ones_like(ids))
    logits, _ = model.decode(dec, hidden, torch.ones_like(ids), None)
    with open(logits_path, "rb") as f:
        raw = bytearray(f.read())
    ours = torch.frombuffer(raw, dtype=torch.float32).view(logits.shape)
    diff = (logits - ours).abs().max().item()
    same_argmax = bool(torch.equal(logits.argmax(-1), ours.argmax(-1)))
    return {"maxAbsDiff": diff, "sameArgmax": same_argmax, "logitsShape": list(logits.shape)}


def run(plan, name):
    w = next(x for x in plan["workloads"] if x["name"] == name)
    s = plan["settings"]
    model, load_ms = load(plan)

    def once(ids, new_tokens, timer):
        t0 = time.perf_counter()
        seqs = None
        if w["kind"] == "encoder":
            model.encode(ids, torch.ones_like(ids))
        else:
            seqs = generate(model, ids, plan, w["numBeams"], new_tokens, timer)
        return (time.perf_counter() - t0) * 1000, seqs

    full = torch.tensor(w["inputIds"])
    warm = torch.cat([full[:, :15], full[:, -1:]], dim=1)
    with torch.inference_mode():
        once(warm, 2, Timer())
        res = {"contender": "pytorch", "workload": name, "timesMs": [], "loadMs": load_ms}
        start = time.perf_counter()
        for i in range(s["reps"]):
            if i > 0 and time.perf_counter() - start > s["budgetS"]:
                break
            timer = Timer()
            ms, seqs = once(full, w["newTokens"], timer)
            res["timesMs"].append(ms)
            if w["kind"] == "generate":
                res.setdefault("encodeMs", []).append(timer.encode * 1000)
                res.setdefault("decodeMs", []).append(timer.decode * 1000)
                res.setdefault("firstStepMs", []).append(timer.first * 1000)
                res["steps"] = timer.steps
                res["sequences"] = seqs
    res["peakRssBytes"] = peak_rss()
    return res


def info():
    blas = sorted({
        m.group(0) for m in re.finditer(r"/\S*(?:blas|lapack)\S*\.so[.\d]*", open("/proc/self/maps").read())
    })
    a, b = torch.randn(512, 768), torch.randn(768, 3072)
    for _ in range(3):
        a @ b
    n, t0 = 20, time.perf_counter()
    for _ in range(n):
        a @ b
    dt = (time.perf_counter() - t0) / n
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "blasLibraries": blas,
        "blasInfo": re.search(r"BLAS_INFO=(\w+)", torch.__config__.show()).group(1),
        "matmulGflops": 2 * 512 * 768 * 3072 / dt / 1e9,
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    what = sys.argv[2]
    if what == "check":
        out = check(plan, sys.argv[3])
    elif what == "info":
        out = info()
    else:
        out = run(plan, what)
    print(json.dumps(out))
