#!/usr/bin/env python3
"""Writes tests/goldens/gguf-pretokenizers.json: what Hugging Face transformers' tokenizer does
with GGUF files whose tokenizer.ggml.pre is llama-bpe or qwen2. Each file is made here with the
`gguf` package around one small byte-level vocabulary (the 256 byte symbols, a few merges that
make digit runs, double spaces and contractions matter), loaded with
AutoTokenizer.from_pretrained(dir, gguf_file=...), and its ids for a few strings recorded, with
the pre-tokenizer transformers built. tests/unit/gguf_tokenizer_test.cpp writes the same files
and compares.

  /tmp/hf/bin/python tools/make_gguf_pretokenizer_goldens.py   (needs transformers, gguf, numpy)
"""
import json, os
import numpy as np
import gguf
from transformers import AutoTokenizer

WORK = "/tmp/gguf-pretokenizers"
os.makedirs(WORK, exist_ok=True)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens",
                   "gguf-pretokenizers.json")


# GPT-2's byte-to-symbol table (the published byte-level BPE alphabet).
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))

b2u = bytes_to_unicode()
merges = ["Ġ t", "h e", "Ġt he", "1 2", "12 3", "4 5", "Ġ Ġ", "Ċ Ċ", "Ġ 1", "' m", "' s", "Ġ I", "a b", "ab c"]
tokens = [b2u[i] for i in range(256)]
for m in merges:
    a, b = m.split(" ")
    tokens.append(a + b)
tokens.append("<|endoftext|>")
texts = ["the 123  45 I'M", "abc1234 the", "\n\n  123\n", "x's  the   12345", "I'm 1 2 3", "hello, world! 45 45"]
out = {"tokens": tokens, "merges": merges, "cases": {}}
for pre in ["llama-bpe", "qwen2"]:
    path = os.path.join(WORK, f"{pre}.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1); w.add_context_length(64); w.add_embedding_length(8); w.add_feed_forward_length(8)
    w.add_head_count(1); w.add_head_count_kv(1); w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(pre)
    w.add_token_list(tokens); w.add_token_merges(merges)
    w.add_token_types([1] * (len(tokens) - 1) + [3])
    w.add_bos_token_id(len(tokens) - 1); w.add_eos_token_id(len(tokens) - 1)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    tok = AutoTokenizer.from_pretrained(WORK, gguf_file=f"{pre}.gguf")
    out["cases"][pre] = [{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"]} for t in texts]
    out["pre_tokenizer_" + pre] = json.loads(tok.backend_tokenizer.to_str())["pre_tokenizer"]
import transformers
out["transformers_version"] = transformers.__version__
json.dump(out, open(OUT, "w"), ensure_ascii=False, indent=1)
for pre in out["cases"]:
    print(pre, [c["ids"] for c in out["cases"][pre]])
