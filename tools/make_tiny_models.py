#!/usr/bin/env python3
"""Make tiny seeded random Hugging Face models and golden outputs for the C++ tests.

Usage:
    python3 tools/make_tiny_models.py [--out-models tests/models]
        [--out-goldens tests/goldens] [--only NAME] [--demo-tokenizer DIR]

Every model is built straight from a transformers config class (no download),
all of its parameters (matrices, embeddings, biases, norm weights and norm
biases) are re-initialised from a per-model seeded generator with non-trivial
values, then it is saved with save_pretrained(safe_serialization=True), in
fp32, fp16 or bf16, some of them sharded.

Goldens are computed by Hugging Face itself from the model RELOADED from disk
and upcast to float32, so they reflect the rounded weights that the engine
reads.  For every case the script also re-runs greedy decoding with a plain
no-cache forward loop (argmax of the full-sequence logits) and checks that it
agrees with generate(); it refuses to write goldens whose top-1/top-2 logit
margin is too small to be a stable test (it redraws that prompt instead).

--demo-tokenizer DIR additionally makes tests/models/demo-opt, an OPT model
whose vocabulary matches DIR/tokenizer.json (no goldens).
"""

import argparse
import json
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import transformers
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

MAX_NEW_TOKENS = 12
N_STEP_LOGITS = 3
PROMPT_LENGTHS = [1, 2, 5, 9, 16, 23, 40, 64]
# Index in PROMPT_LENGTHS replaced by an "ends at EOS" case when one is found.
EOS_CASE_SLOT = 5  # the 23-token case
EOS_SEARCH_TRIES = 2000
# Smallest allowed top1-top2 logit gap at every greedy step. 0.25 (about a tenth of the
# logits' spread) is far above what fp16/bf16 rounding moves a logit on these models, so the
# CUDA backend must reproduce every greedy token; at 2e-3 bf16 runs flipped near-ties.
MIN_MARGIN = 0.25
GOLDEN_SIZE_LIMIT = 400 * 1024

# Models whose config.json is rewritten after saving into the older style that
# most checkpoints on the Hub still have ("torch_dtype" instead of "dtype",
# top-level "rope_theta" instead of "rope_parameters"), so the engine's config
# parser is tested on both; transformers 5 reads both (checked via the goldens,
# which come from the reloaded model).
LEGACY_CONFIG = {"opt-tiny", "llama-tiny"}

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def opt_cfg(**kw):
    base = dict(
        num_hidden_layers=2,
        max_position_embeddings=128,
        dropout=0.0,
        attention_dropout=0.0,
        layerdrop=0.0,
        activation_function="relu",
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        enable_bias=True,
        layer_norm_elementwise_affine=True,
    )
    base.update(kw)
    return OPTConfig(**base)


def llama_cfg(cls=LlamaConfig, rope_theta=10000.0, **kw):
    base = dict(
        num_hidden_layers=2,
        max_position_embeddings=128,
        hidden_act="silu",
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        rope_parameters={"rope_type": "default", "rope_theta": float(rope_theta)},
        attention_dropout=0.0,
    )
    base.update(kw)
    return cls(**base)


# name -> (model class, config factory, dtype on disk, max_shard_size or None, seed,
#          gain of the Linear weights: std = gain / sqrt(fan_in))
# gain 2 keeps tied pre-norm models from just repeating the last token; the
# post-LN model varies more with gain 1.
MODELS = {
    "opt-tiny": (
        OPTForCausalLM,
        lambda: opt_cfg(vocab_size=512, hidden_size=64, num_attention_heads=4, ffn_dim=128,
                        do_layer_norm_before=True, tie_word_embeddings=True),
        "float32", None, 1001, 2.0),
    "opt-postln-proj": (
        OPTForCausalLM,
        lambda: opt_cfg(vocab_size=600, hidden_size=64, num_attention_heads=4, ffn_dim=128,
                        do_layer_norm_before=False, word_embed_proj_dim=48,
                        tie_word_embeddings=False),
        "float16", None, 1002, 1.0),
    "opt-oddheads": (
        OPTForCausalLM,
        lambda: opt_cfg(vocab_size=900, hidden_size=60, num_attention_heads=5, ffn_dim=136,
                        num_hidden_layers=3, do_layer_norm_before=True, tie_word_embeddings=True),
        "bfloat16", "60KB", 1003, 2.0),
    "llama-tiny": (
        LlamaForCausalLM,
        lambda: llama_cfg(vocab_size=512, hidden_size=64, num_attention_heads=4,
                          num_key_value_heads=4, intermediate_size=160, rms_norm_eps=1e-6,
                          tie_word_embeddings=True, rope_theta=10000.0),
        "float32", None, 2001, 2.0),
    "llama-gqa": (
        LlamaForCausalLM,
        lambda: llama_cfg(vocab_size=768, hidden_size=96, num_attention_heads=6,
                          num_key_value_heads=2, head_dim=16, intermediate_size=200,
                          rms_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=500000.0),
        "bfloat16", None, 2002, 2.0),
    "llama-mqa-odd": (
        LlamaForCausalLM,
        lambda: llama_cfg(vocab_size=700, hidden_size=48, num_attention_heads=3,
                          num_key_value_heads=1, intermediate_size=112, num_hidden_layers=3,
                          rms_norm_eps=1e-6, tie_word_embeddings=False, rope_theta=10000.0),
        "float16", "40KB", 2003, 2.0),
    "qwen2-tiny": (
        Qwen2ForCausalLM,
        lambda: llama_cfg(cls=Qwen2Config, vocab_size=640, hidden_size=64,
                          num_attention_heads=4, num_key_value_heads=2, intermediate_size=144,
                          rms_norm_eps=1e-6, tie_word_embeddings=False, rope_theta=1000000.0,
                          use_sliding_window=False, sliding_window=None, max_window_layers=2),
        "float32", None, 3001, 2.0),
}


# ---------------------------------------------------------------------------
# weights

def reinit_(model, seed, gain=2.0):
    """Re-initialise every parameter with seeded, non-trivial random values."""
    g = torch.Generator().manual_seed(seed)
    norm_types = (torch.nn.LayerNorm,)
    norm_names = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, norm_types) or type(mod).__name__.endswith("RMSNorm"):
            norm_names.add(mname)
    with torch.no_grad():
        # named_parameters() de-duplicates tied parameters, sorted for stability
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            owner, _, leaf = name.rpartition(".")
            shape = p.shape
            if owner in norm_names:
                if leaf == "weight":
                    v = 1.0 + 0.1 * torch.randn(shape, generator=g)
                else:  # LayerNorm bias
                    v = 0.05 * torch.randn(shape, generator=g)
            elif leaf == "bias":
                v = 0.05 * torch.randn(shape, generator=g)
            elif "embed_positions" in name:
                v = 0.3 * torch.randn(shape, generator=g)
            elif "embed_tokens" in name or "lm_head" in name:
                # std 0.3 gives logits with std ~2 for hidden 48..96 (tied or not)
                v = 0.3 * torch.randn(shape, generator=g)
            elif p.dim() == 2:  # nn.Linear [out, in]
                v = gain * torch.randn(shape, generator=g) / (shape[1] ** 0.5)
            else:
                raise RuntimeError(f"unhandled parameter {name} {tuple(shape)}")
            p.copy_(v.to(p.dtype))
    for name, p in model.named_parameters():
        t = p.detach().float()
        if bool((t == 0).all()) or bool((t == 1).all()):
            raise RuntimeError(f"parameter {name} is trivial after reinit")


def greedy_gen_config(cfg):
    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=MAX_NEW_TOKENS,
        bos_token_id=cfg.bos_token_id,
        eos_token_id=cfg.eos_token_id,
        pad_token_id=cfg.pad_token_id,
        temperature=None,
        top_k=None,
        top_p=None,
    )


def build_and_save(name, out_dir):
    cls, make_cfg, dtype_name, shard, seed, gain = MODELS[name]
    torch.manual_seed(seed)
    cfg = make_cfg()
    cfg._attn_implementation = "eager"
    model = cls._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    reinit_(model, seed, gain)
    model.generation_config = greedy_gen_config(cfg)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    model = model.to(DTYPES[dtype_name])
    kw = dict(safe_serialization=True)
    if shard:
        kw["max_shard_size"] = shard
    model.save_pretrained(out_dir, **kw)
    if name in LEGACY_CONFIG:
        legacy_config_(os.path.join(out_dir, "config.json"))
    return cls, dtype_name


def legacy_config_(path):
    with open(path) as f:
        c = json.load(f)
    out = {}
    for k, v in c.items():
        if k == "dtype":
            out["torch_dtype"] = v
        elif k == "rope_parameters":
            assert v.get("rope_type", "default") == "default", v
            out["rope_scaling"] = None
            out["rope_theta"] = v["rope_theta"]
        else:
            out[k] = v
    with open(path, "w") as f:
        json.dump(dict(sorted(out.items())), f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------
# goldens

def fmt_float(x):
    return float(f"{x:.7g}")


def logits_list(t):
    return [fmt_float(v) for v in t.detach().float().cpu().tolist()]


def run_case(model, prompt, eos_id):
    """generate() the greedy continuation and its step logits, then verify with
    a plain no-cache forward loop. Returns (greedy, step_logits, min_margin)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            num_beams=1,
            eos_token_id=eos_id,
            pad_token_id=model.config.pad_token_id,
            output_logits=True,
            output_scores=True,
            return_dict_in_generate=True,
        )
    seq = out.sequences[0].tolist()
    assert seq[: len(prompt)] == prompt, "generate changed the prompt"
    greedy = seq[len(prompt):]
    logits = [l[0] for l in out.logits]
    assert len(logits) == len(greedy)
    # no logits processor may have touched anything
    for a, b in zip(out.logits, out.scores):
        assert torch.equal(a, b), "scores differ from raw logits: a processor is active"
    # the 'engine-like' check: full forward, no cache, argmax
    cur = list(prompt)
    margins = []
    for step, tok in enumerate(greedy):
        with torch.no_grad():
            full = model(torch.tensor([cur]), use_cache=False).logits[0, -1].float()
        assert int(full.argmax()) == tok, f"no-cache argmax {int(full.argmax())} != generate {tok} at step {step}"
        err = (full - logits[step].float()).abs().max().item()
        assert err < 1e-4 * max(1.0, full.abs().max().item()), f"cache/no-cache logits differ by {err}"
        top2 = torch.topk(full, 2).values
        margins.append((top2[0] - top2[1]).item())
        cur.append(tok)
    if eos_id is not None and len(greedy) < MAX_NEW_TOKENS:
        assert greedy[-1] == eos_id
    step_logits = [logits_list(l) for l in logits[:N_STEP_LOGITS]]
    return greedy, step_logits, min(margins)


def make_goldens(name, model_dir, golden_path, dtype_name):
    cls = MODELS[name][0]
    model = cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    cfg = model.config
    ref = MODELS[name][1]()
    for k in ("vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers",
              "tie_word_embeddings", "rope_parameters", "num_key_value_heads", "head_dim",
              "do_layer_norm_before", "word_embed_proj_dim", "rms_norm_eps"):
        if hasattr(ref, k):
            assert getattr(cfg, k) == getattr(ref, k), (name, k, getattr(cfg, k), getattr(ref, k))
    vocab = cfg.vocab_size
    eos = cfg.eos_token_id
    rng = np.random.default_rng(zlib.crc32(name.encode()))

    def draw(n):
        ids = rng.integers(3, vocab, size=n).tolist()
        return [i for i in ids if i != eos] or [3]

    cases = []
    redraws = 0
    eos_case_found = False
    for slot, n in enumerate(PROMPT_LENGTHS):
        if slot == EOS_CASE_SLOT:
            # look for a prompt whose greedy continuation ends at EOS, so the
            # tests exercise early stopping; fall back to an ordinary case.
            for _ in range(EOS_SEARCH_TRIES):
                p = draw(int(rng.integers(3, 24)))
                with torch.no_grad():
                    seq = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                         max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                         eos_token_id=eos, pad_token_id=cfg.pad_token_id)[0].tolist()
                new = seq[len(p):]
                if len(new) >= N_STEP_LOGITS and new[-1] == eos and len(new) < MAX_NEW_TOKENS:
                    g, sl, m = run_case(model, p, eos)
                    if m >= MIN_MARGIN:
                        cases.append(dict(prompt=p, greedy=g, step_logits=sl, margin=m))
                        eos_case_found = True
                        break
            if eos_case_found:
                continue
        for attempt in range(4000):
            p = draw(n)
            g, sl, m = run_case(model, p, eos)
            if m >= MIN_MARGIN:
                break
            redraws += 1
        else:
            raise RuntimeError(f"{name}: could not find a prompt of length {n} with margin >= {MIN_MARGIN}")
        cases.append(dict(prompt=p, greedy=g, step_logits=sl, margin=m))

    def render(n_with_steps):
        out_cases = []
        for i, c in enumerate(cases):
            d = {"prompt": c["prompt"], "greedy": c["greedy"], "last_logits": c["step_logits"][0]}
            if i < n_with_steps:
                d["step_logits"] = c["step_logits"]
            out_cases.append(d)
        doc = {
            "model": name,
            "dtype_on_disk": dtype_name,
            "max_new_tokens": MAX_NEW_TOKENS,
            "eos_token_id": eos,
            "vocab_size": vocab,
            "cases": out_cases,
        }
        return json.dumps(doc, separators=(",", ":")) + "\n"

    text = render(len(cases))
    if len(text.encode()) > GOLDEN_SIZE_LIMIT:
        text = render(2)
    with open(golden_path, "w") as f:
        f.write(text)

    greedies = [tuple(c["greedy"]) for c in cases]
    info = {
        "cases": len(cases),
        "distinct_greedy": len(set(greedies)),
        "distinct_first_token": len(set(g[0] for g in greedies if g)),
        "min_margin": min(c["margin"] for c in cases),
        "redraws": redraws,
        "eos_case": eos_case_found,
        "logit_std": float(np.mean([np.std(c["step_logits"][0]) for c in cases])),
        "greedy": [list(g) for g in greedies],
    }
    return info


# ---------------------------------------------------------------------------
# demo model with a real tokenizer

def make_demo(tok_dir, out_models):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    eos = tok.token_to_id("</s>")
    pad = tok.token_to_id("<pad>")
    bos = tok.token_to_id("<s>")
    if eos is None:
        eos = 2 if vocab > 2 else 0
    bos_id = eos if eos is not None else bos  # OPT convention: bos == eos == </s>
    cfg = OPTConfig(
        vocab_size=vocab, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
        ffn_dim=512, max_position_embeddings=512, do_layer_norm_before=True,
        tie_word_embeddings=True, dropout=0.0, attention_dropout=0.0, layerdrop=0.0,
        activation_function="relu", pad_token_id=pad, bos_token_id=bos_id, eos_token_id=eos,
    )
    torch.manual_seed(4001)
    model = OPTForCausalLM._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    reinit_(model, 4001)
    model.generation_config = greedy_gen_config(cfg)
    out_dir = os.path.join(out_models, "demo-opt")
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    model.to(torch.float16).save_pretrained(out_dir, safe_serialization=True)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(tok_dir, fn)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(out_dir, fn))
    # reload check
    m2 = OPTForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    assert m2.config.vocab_size == vocab
    print(f"demo-opt: vocab {vocab} bos {bos_id} eos {eos} pad {pad} "
          f"params {sum(p.numel() for p in m2.parameters())}")
    report_files(out_dir)


# ---------------------------------------------------------------------------

def report_files(d):
    total = 0
    for fn in sorted(os.listdir(d)):
        sz = os.path.getsize(os.path.join(d, fn))
        total += sz
        print(f"    {fn:40s} {sz:9d}")
    return total


def dir_size(d):
    total = 0
    for root, _, files in os.walk(d):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out-models", default=os.path.join(root, "tests", "models"))
    ap.add_argument("--out-goldens", default=os.path.join(root, "tests", "goldens"))
    ap.add_argument("--only", action="append", help="only this model (repeatable)")
    ap.add_argument("--demo-tokenizer", metavar="DIR", help="also make demo-opt with DIR/tokenizer.json")
    ap.add_argument("--skip-models", action="store_true", help="only the demo model (with --demo-tokenizer)")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}  transformers {transformers.__version__}")
    os.makedirs(args.out_models, exist_ok=True)
    os.makedirs(args.out_goldens, exist_ok=True)

    names = [] if args.skip_models else list(MODELS)
    if args.only:
        unknown = [n for n in args.only if n not in MODELS]
        if unknown:
            sys.exit(f"unknown model(s): {unknown}; known: {list(MODELS)}")
        names = [n for n in names if n in args.only]

    ok = True
    for name in names:
        out_dir = os.path.join(args.out_models, name)
        cls, dtype_name = build_and_save(name, out_dir)
        golden = os.path.join(args.out_goldens, f"{name}.json")
        info = make_goldens(name, out_dir, golden, dtype_name)
        m = cls.from_pretrained(out_dir, dtype=torch.float32)
        nparams = sum(p.numel() for p in m.parameters())
        print(f"{name}: {nparams} params, {dtype_name} on disk, "
              f"{info['cases']} cases, distinct greedy {info['distinct_greedy']}/{info['cases']}, "
              f"distinct first tokens {info['distinct_first_token']}, min top1-top2 margin "
              f"{info['min_margin']:.4f}, logit std {info['logit_std']:.2f}, redraws {info['redraws']}, "
              f"eos case {info['eos_case']}")
        for g in info["greedy"]:
            print(f"    greedy {g}  ({len(set(g))} distinct)")
        report_files(out_dir)
        print(f"    {golden}: {os.path.getsize(golden)} bytes")
        if info["distinct_greedy"] < info["cases"] - 1:
            print(f"WARNING: {name}: greedy outputs barely vary across prompts")
            ok = False

    if args.demo_tokenizer:
        make_demo(args.demo_tokenizer, args.out_models)

    tm, tg = dir_size(args.out_models), dir_size(args.out_goldens)
    print(f"total: models {tm} bytes, goldens {tg} bytes, sum {(tm + tg) / 1e6:.2f} MB")
    if tm + tg > 6_000_000 and not args.demo_tokenizer:
        print("WARNING: total exceeds 6 MB")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
