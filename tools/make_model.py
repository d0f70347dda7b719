#!/usr/bin/env python3
"""Write a seeded random LLaMA-family model as a Hugging Face directory (config.json and
model.safetensors), with numpy alone: for tests and measurements that need a model of real
size (hundreds of MB) made at test time rather than committed.

Usage:
    python3 tools/make_model.py OUT_DIR [--hidden 768] [--layers 12] [--heads 12]
        [--kv-heads 12] [--ffn 2048] [--vocab 2048] [--max-positions 512]
        [--dtype fp32|fp16] [--seed 1]

Matrices are normal with standard deviation 1/sqrt(fan_in) (activations stay bounded over
many layers), norm weights 1 + 0.1 * normal. The file is written tensor by tensor, so making
it takes little more memory than its largest tensor. Prints the file's bytes and parameters.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"fp32": (np.float32, "F32"), "fp16": (np.float16, "F16")}


def tensors(a):
    """(name, shape) of every tensor of a LLaMA model with tied embeddings, in file order."""
    h, f, v = a.hidden, a.ffn, a.vocab
    hd = h // a.heads
    q, kv = a.heads * hd, a.kv_heads * hd
    out = [("model.embed_tokens.weight", (v, h))]
    for l in range(a.layers):
        p = f"model.layers.{l}."
        out += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (q, h)),
            (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)),
            (p + "self_attn.o_proj.weight", (h, q)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (f, h)),
            (p + "mlp.up_proj.weight", (f, h)),
            (p + "mlp.down_proj.weight", (h, f)),
        ]
    out.append(("model.norm.weight", (h,)))
    return out


def config(a):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": a.hidden,
        "intermediate_size": a.ffn,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": a.hidden // a.heads,
        "hidden_act": "silu",
        "max_position_embeddings": a.max_positions,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "vocab_size": a.vocab,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32" if a.dtype == "fp32" else "float16",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--max-positions", type=int, default=512)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.hidden % a.heads or a.heads % a.kv_heads:
        sys.exit("make_model.py: hidden must divide into heads, heads into kv-heads")
    np_dtype, st_dtype = DTYPES[a.dtype]
    elem = np.dtype(np_dtype).itemsize

    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors(a):
        n = int(np.prod(shape)) * elem
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config(a), f, indent=2)
    rng = np.random.default_rng(a.seed)
    params = 0
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for name, shape in tensors(a):
            x = rng.standard_normal(shape, dtype=np.float32)
            if len(shape) == 1:
                x = 1 + 0.1 * x
            else:
                x *= 1 / np.sqrt(shape[1])
            f.write(x.astype(np_dtype).tobytes())
            params += x.size
    size = os.path.getsize(os.path.join(a.out, "model.safetensors"))
    print(f"make_model.py: {a.out}: {params} parameters, {size} bytes")


if __name__ == "__main__":
    main()
