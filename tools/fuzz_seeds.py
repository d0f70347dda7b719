#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/, docs/FUZZING.md) from the repository's
test data, so that no corpus is committed: small files that each parser accepts, which the
fuzzer then mutates.

    python3 tools/fuzz_seeds.py OUT_DIR     # OUT_DIR/<target>/<seed>, for every target

Standard library only (CI's Debian python3)."""
import glob
import json
import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """A .safetensors file: u64 header length, JSON header, data. tensors: (name, dtype, shape)."""
    size = {"F32": 4, "F16": 2, "BF16": 2}
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for i, (name, dtype, shape) in enumerate(tensors):
        n = size[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += bytes((i * 37 + k * 11) % 251 for k in range(n))
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def seeds_safetensors(out):
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/models/*/*.safetensors")))[:6]:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        names = [k for k in header if k != "__metadata__"][:6]
        model = os.path.basename(os.path.dirname(path))
        small = [(k, header[k]["dtype"], [min(d, 3) for d in header[k]["shape"]]) for k in names]
        write(out, "fuzz_safetensors", f"{model}-{os.path.basename(path)}",
              safetensors(small, header.get("__metadata__")))
    write(out, "fuzz_safetensors", "dtypes",
          safetensors([("a", "F32", [2, 2]), ("b", "F16", [3]), ("c", "BF16", [1, 1, 2]),
                       ("scalar", "F32", []), ("empty", "F16", [0, 4])], {"format": "pt"}))


def seeds_config(out):
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/models/*/config.json"))):
        with open(path, "rb") as f:
            write(out, "fuzz_config", os.path.basename(os.path.dirname(path)), f.read())


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: printable bytes map to themselves, the rest to U+0100 on."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


def patched(doc, patch):
    doc = json.loads(json.dumps(doc))
    for key, value in patch.items():
        parts = key.split(".")
        d = doc
        for p in parts[:-1]:
            d = d[p]
        d[parts[-1]] = value
    return doc


def trimmed(doc, keep_ids=400):
    """The tokenizer with its first keep_ids vocabulary entries and the merges among them."""
    m = doc["model"]
    vocab = {t: i for t, i in m["vocab"].items() if i < keep_ids}
    for a in doc.get("added_tokens") or []:
        if a["id"] >= keep_ids:
            vocab.pop(a["content"], None)
    doc["added_tokens"] = [a for a in doc.get("added_tokens") or [] if a["id"] < keep_ids]
    merges = []
    for mg in m["merges"]:
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    m["vocab"], m["merges"] = vocab, merges
    return doc


def seeds_tokenizers(out):
    with open(os.path.join(ROOT, "tests/tokenizers/goldens.json")) as f:
        styles = json.load(f)["styles"]
    bases = {}
    for base in ("gpt2-style", "llama3-style"):
        with open(os.path.join(ROOT, "tests/tokenizers", base, "tokenizer.json")) as f:
            bases[base] = json.load(f)
    texts = []
    for s in styles:
        doc = trimmed(patched(bases[s["base"]], s["patch"]))
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        sample = s["cases"][len(texts) % len(s["cases"])]["text"] if s["cases"] else ""
        write(out, "fuzz_tokenizer_json", s["name"], text)
        write(out, "fuzz_tokenizer_json", s["name"] + "+text", text + "\0" + sample)
        texts += [c["text"] for c in s["cases"]]
    for i, t in enumerate(dict.fromkeys(texts)):
        write(out, "fuzz_tokenize", f"golden-{i}", t)


def seeds_dataset(out):
    lines = []
    for path in sorted(glob.glob(os.path.join(ROOT, "datasets/*.jsonl")) +
                       glob.glob(os.path.join(ROOT, "jobs/data/*.jsonl"))):
        with open(path) as f:
            lines += [l.rstrip("\n") for l in f.readlines()[:3]]
    body = {"model": "demo", "prompt": "Hello there", "max_tokens": 8, "temperature": 0.8,
            "top_p": 0.9, "seed": 7, "stop": ["\n\n"]}
    lines += [
        json.dumps({"id": "p1", "prompt": "The capital of France is", "max_new_tokens": 5}),
        json.dumps({"id": 7, "input_ids": [1, 2, 3]}),
        json.dumps({"id": "c1", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Hi"}]}),
        json.dumps({"custom_id": "b1", "method": "POST", "url": "/v1/completions", "body": body}),
        json.dumps({"custom_id": "b2", "method": "POST", "url": "/v1/completions",
                    "body": {"prompt": [[5, 6, 7]], "max_tokens": 4, "n": 1}}),
        json.dumps({"custom_id": "b3", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"messages": [{"role": "user", "content": "hi"}],
                             "max_completion_tokens": 3}}),
    ]
    for i, l in enumerate(lines):
        write(out, "fuzz_dataset", f"line-{i}", l + "\n")
    write(out, "fuzz_dataset", "mixed", "\n".join(lines[-6:] + [lines[-5], "", "  ", "{bad"]) + "\r\n")


def seeds_job_config(out):
    for path in sorted(glob.glob(os.path.join(ROOT, "jobs/*.toml"))):
        with open(path, "rb") as f:
            write(out, "fuzz_job_config", os.path.basename(path), f.read())
    write(out, "fuzz_job_config", "sections",
          '[run]\nmodel = "tests/models/opt-tiny"\ninput = \'jobs/data/demo-ids.jsonl\'\n'
          'output = "o.h5"\nstop = ["\\n\\n", "END"]\ntemperature = 0.5\nseed = 3\n'
          'batch-size = "auto"\nresume = true\n')


def journal(records):
    """A journal: magic, then records "HSRC" u32 type u64 length payload u32 crc."""
    out = b"HSJRNL1\n"
    for rtype, payload in records:
        p = json.dumps(payload).encode()
        head = struct.pack("<IQ", rtype, len(p))
        out += b"HSRC" + head + p + struct.pack("<I", zlib.crc32(head + p))
    return out


def seeds_journal(out):
    fp = {"model": "tests/models/opt-tiny", "input": "data.jsonl", "max_new_tokens": 4}
    header = (1, {"format": 2, "created": "2025-01-01T00:00:00Z", "fingerprint": fp,
                  "command_line": "hybridserve run"})

    def session(n):
        return (2, {"session": n, "started": "2025-01-01T00:00:00Z", "ranks": 2,
                    "replayed_units": n, "command_line": "hybridserve run"})

    def dispatch(s, u):
        return (4, {"session": s, "unit": u, "rank": 1, "host": "node1", "pid": 42,
                    "first_line": 2 * u + 1, "last_line": 2 * u + 2, "requests": 2})

    def unit(s, u, failed=False):
        results = []
        for row in (2 * u, 2 * u + 1):
            r = {"row": row, "id": f"r{row}", "ok": not (failed and row % 2), "line": row + 1,
                 "prompt_ids": [2, 100, row], "prompt_text": "hi"}
            if r["ok"]:
                r.update({"output_ids": [5, 6], "finish_reason": "length", "text": "ab"})
            else:
                r["error"] = f"line {row + 1}: empty prompt"
            results.append(r)
        return (3, {"unit": u, "rank": 1, "session": s, "compute_ms": 1.5, "start_ms": 0.0,
                    "end_ms": 2.0, "trace_rows_end": 4 * (u + 1), "results": results,
                    "trace": {"step": [0], "layer": [0], "mini_batch": [0], "kind": [1],
                              "bytes": [64], "start_ms": [0.0], "end_ms": [0.1], "stream": [0]}})

    done = journal([header, session(0), dispatch(0, 0), unit(0, 0), dispatch(0, 1),
                    unit(0, 1, failed=True)])
    killed = journal([header, session(0), dispatch(0, 0), unit(0, 0), dispatch(0, 1)])
    resumed = journal([header, session(0), dispatch(0, 0), unit(0, 0), dispatch(0, 1),
                       session(1), dispatch(1, 1), unit(1, 1), dispatch(1, 2)])
    # The first byte chooses the target's mode: odd fixes the checksums of mutated records.
    for name, j in (("done", done), ("killed", killed), ("resumed", resumed)):
        write(out, "fuzz_journal", name + "-fixcrc", b"\x01" + j)
        write(out, "fuzz_journal", name + "-retry", b"\x03" + j)
        write(out, "fuzz_journal", name + "-raw", b"\x00" + j)
    write(out, "fuzz_journal", "torn", b"\x00" + killed + b"HSRC\x03\x00\x00\x00\xff" + b"\0" * 7)


# GGUF: metadata value types and tensor types (the format's numbers).
U32, I32, F32, BOOL, STRING, ARRAY, U64 = 4, 5, 6, 7, 8, 9, 10
T_F32, T_F16, T_Q4_0, T_Q4_1, T_Q8_0, T_BF16 = 0, 1, 2, 3, 8, 30


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, vtype, value):
    b = gguf_str(key) + struct.pack("<I", vtype)
    scalar = {U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q"}
    if vtype == STRING:
        return b + gguf_str(value)
    if vtype == ARRAY:
        etype, items = value
        b += struct.pack("<IQ", etype, len(items))
        for x in items:
            b += gguf_str(x) if etype == STRING else struct.pack(scalar[etype], x)
        return b
    return b + struct.pack(scalar[vtype], value)


def gguf_tensor_bytes(ttype, dims, seed):
    n = 1
    for d in dims:
        n *= d
    if ttype == T_F32:
        return b"".join(struct.pack("<f", ((i * 7 + seed) % 13 - 6) / 16) for i in range(n))
    if ttype in (T_F16, T_BF16):
        one = 0x3C00 if ttype == T_F16 else 0x3F80
        return b"".join(struct.pack("<H", one - (i + seed) % 7) for i in range(n))
    blocks = n // 32
    block = {T_Q8_0: struct.pack("<H", 0x2C00) + bytes((i * 5 + seed) % 256 for i in range(32)),
             T_Q4_0: struct.pack("<H", 0x2C00) + bytes((i * 3 + seed) % 256 for i in range(16)),
             T_Q4_1: struct.pack("<HH", 0x2C00, 0xAC00) + bytes((i + seed) % 256 for i in range(16))}
    return block[ttype] * blocks


def gguf_file(metadata, tensors, alignment=32):
    b = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + b"".join(metadata)
    data, offsets = b"", []
    for i, (name, dims, ttype) in enumerate(tensors):
        offsets.append(len(data))
        data += gguf_tensor_bytes(ttype, dims, i)
        data += b"\0" * (-len(data) % alignment)
        b += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        b += struct.pack("<IQ", ttype, offsets[-1])
    b += b"\0" * (-len(b) % alignment)
    return b + data


def seeds_gguf(out):
    table = bytes_to_unicode()
    alphabet = [table[b] for b in range(256)]
    merges = ["Ġ t", "h e", "Ġt he", "l o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "H e", "He l"]
    tokens = alphabet + [m.replace(" ", "") for m in merges] + ["<|im_start|>", "<|im_end|>"]
    vocab, hidden, ffn, heads, kv_heads = len(tokens), 32, 64, 2, 1
    head_dim = hidden // heads
    types = [0] + [1] * (len(tokens) - 3) + [3, 3]  # normal tokens; control tokens at the end
    for pre, types_q in (("gpt2", (T_Q8_0, T_Q4_0, T_Q4_1)), ("llama-bpe", (T_F16, T_BF16, T_F32)),
                         ("smollm", (T_Q4_1, T_Q8_0, T_Q4_0)), ("qwen2", (T_F32, T_F16, T_Q8_0))):
        md = [gguf_kv("general.architecture", STRING, "llama"),
              gguf_kv("general.name", STRING, "fuzz-tiny"),
              gguf_kv("general.alignment", U32, 32),
              gguf_kv("llama.embedding_length", U32, hidden),
              gguf_kv("llama.block_count", U32, 1),
              gguf_kv("llama.attention.head_count", U32, heads),
              gguf_kv("llama.attention.head_count_kv", U32, kv_heads),
              gguf_kv("llama.feed_forward_length", U32, ffn),
              gguf_kv("llama.context_length", U64, 128),
              gguf_kv("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
              gguf_kv("llama.rope.freq_base", F32, 10000.0),
              gguf_kv("llama.rope.dimension_count", U32, head_dim),
              gguf_kv("llama.vocab_size", U32, vocab),
              gguf_kv("tokenizer.ggml.model", STRING, "gpt2"),
              gguf_kv("tokenizer.ggml.pre", STRING, pre),
              gguf_kv("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
              gguf_kv("tokenizer.ggml.token_type", ARRAY, (I32, types)),
              gguf_kv("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
              gguf_kv("tokenizer.ggml.bos_token_id", U32, vocab - 2),
              gguf_kv("tokenizer.ggml.eos_token_id", U32, vocab - 1),
              gguf_kv("tokenizer.ggml.add_bos_token", BOOL, pre == "llama-bpe"),
              gguf_kv("tokenizer.chat_template", STRING,
                      "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                      "<|im_end|>\n{% endfor %}")]
        qa, qb, qc = types_q
        kv = kv_heads * head_dim
        tensors = [("token_embd.weight", [hidden, vocab], qa),
                   ("output_norm.weight", [hidden], T_F32),
                   ("blk.0.attn_norm.weight", [hidden], T_F32),
                   ("blk.0.attn_q.weight", [hidden, hidden], qa),
                   ("blk.0.attn_k.weight", [hidden, kv], qb),
                   ("blk.0.attn_v.weight", [hidden, kv], qc),
                   ("blk.0.attn_output.weight", [hidden, hidden], qb),
                   ("blk.0.ffn_norm.weight", [hidden], T_F32),
                   ("blk.0.ffn_gate.weight", [hidden, ffn], qc),
                   ("blk.0.ffn_up.weight", [hidden, ffn], qa),
                   ("blk.0.ffn_down.weight", [ffn, hidden], qb)]
        if pre == "qwen2":
            tensors.append(("output.weight", [hidden, vocab], T_F16))
        write(out, "fuzz_gguf", f"llama-{pre}", gguf_file(md, tensors))


def main():
    out = sys.argv[1]
    for seeds in (seeds_safetensors, seeds_config, seeds_tokenizers, seeds_dataset,
                  seeds_job_config, seeds_journal, seeds_gguf):
        seeds(out)


if __name__ == "__main__":
    main()
