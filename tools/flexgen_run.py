#!/usr/bin/env python3
"""Runs the FlexGen baseline (PyPI `flexgen`, `flexgen.flex_opt`) on an offline machine.

    python3 tools/flexgen_run.py [wrapper options] FLEX_OPT_ARGS...

behaves like `python3 -m flexgen.flex_opt FLEX_OPT_ARGS...`, with these differences (all
described in docs/FLEXGEN.md):

* `AutoTokenizer.from_pretrained("facebook/opt-30b")`, which FlexGen calls even with dummy
  weights (only to left-pad one dummy prompt), returns a local stand-in: a small byte-level
  BPE tokenizer built in memory with the `tokenizers` library, with OPT's special-token ids
  (<s>=0, <pad>=1, </s>=2, <unk>=3), OPT's "</s> $A" template and left padding. No network.
* Compat patches for newer torch/transformers/numpy are applied only where needed (see
  `apply_compat_patches`).
* The numbers FlexGen logs (prefill/decode/total latency and throughput, peak GPU memory)
  are also printed as one line `FLEXGEN_RESULT {json}` and, with --result-json, written to
  a file.

Wrapper options (removed before FlexGen parses the rest):
  --dry-run           patch, parse, build the tokenizer, encode the prompts and print the
                      memory estimate; stop before any CUDA call
  --gpu-mem-gib G     cap torch's caching allocator at G GiB on cuda:0
                      (torch.cuda.set_per_process_memory_fraction); FlexGen has no such option
  --result-json PATH  also write the result as JSON to PATH
  --real-tokenizer    do not install the tokenizer stand-in (needs the HF hub or its cache)

FlexGen's own --compress-weight / --compress-cache pass through unchanged (its parser reads
them); the memory estimate and the result JSON count them.

The memory model below (`estimate_memory`) is pure Python so that tools/bench_compare.py can
import it without torch.
"""
import argparse
import json
import math
import os
import sys
import time

GiB = 1 << 30
OPT_VOCAB = 50272
OPT_MAX_SEQ = 2048

# name -> (layers, hidden, heads), copied from flexgen/opt_config.py (0.1.8).
OPT_SHAPES = {
    "opt-125m": (12, 768, 12),
    "opt-1.3b": (24, 2048, 32),
    "opt-2.7b": (32, 2560, 32),
    "opt-6.7b": (32, 4096, 32),
    "opt-13b": (40, 5120, 40),
    "opt-30b": (48, 7168, 56),
    "opt-66b": (64, 9216, 72),
    "opt-175b": (96, 12288, 96),
}


def model_key(name):
    name = name.split("/")[-1].lower()
    for k in ("-iml-max", "-iml"):
        name = name.replace(k, "")
    if name not in OPT_SHAPES:
        raise ValueError(f"unknown OPT model {name!r}; known: {sorted(OPT_SHAPES)}")
    return name


# ---------------------------------------------------------------------------------------
# Memory model of flexgen.flex_opt (0.1.8), for choosing splits that fit a GPU budget and
# batch sizes that fit host memory. It mirrors the allocations in flex_opt.py and
# pytorch_backend.py; it is an estimate (the caching allocator's fragmentation and cuBLAS
# workspaces are covered by a margin), and the budget itself is enforced at run time with
# --gpu-mem-gib.
# ---------------------------------------------------------------------------------------
def _layer_specs(layers, h, v=OPT_VOCAB, s=OPT_MAX_SEQ):
    """Weight shapes per FlexGen layer (sep_layer=True): InputEmbed, (Attn, MLP)*L, OutputEmbed."""
    specs = [[(v, h), (s + 2, h)]]
    attn = [(h, h), (h,)] * 4 + [(h,), (h,)]
    mlp = [(4 * h, h), (4 * h,), (h, 4 * h), (h,), (h,), (h,)]
    for _ in range(layers):
        specs.append(attn)
        specs.append(mlp)
    specs.append([(h,), (h,), (v, h)])
    return specs


def _get_choice(cur_percent, percents, choices):
    acc = 0.0
    for p, c in zip(percents, choices):
        acc += p
        if cur_percent < acc:
            return c
    return choices[-1]


# FlexGen's compression (compression.py; the two CompressionConfig of flex_opt.run_flexgen):
# 4 bits, asymmetric (each group keeps its fp16 scale and min), groups of 64 values along
# dim 0 of a weight tensor (FlexGen stores weights as F.linear's (out, in), so a group is 64
# output rows of one input column) and along the head dim of the KV cache. A group of 64 fp16
# values (128 bytes) becomes 32 bytes of packed nibbles + 4 bytes of (scale, min): 36/128,
# i.e. 4.5/16 of its fp16 bytes. Only tensors of two or more dims are compressed (biases and
# layer norms stay fp16).
COMPRESS_GROUP = 64
COMPRESS_GROUP_BYTES = COMPRESS_GROUP // 2 + 2 * 2
COMPRESS_MODES = {"": (False, False), "weight": (True, False), "cache": (False, True),
                  "weight+cache": (True, True)}  # mode -> (--compress-weight, --compress-cache)


def compress_flags(mode):
    """flex_opt flags of a compression mode ("" = none)."""
    cw, cc = COMPRESS_MODES[mode]
    return (["--compress-weight"] if cw else []) + (["--compress-cache"] if cc else [])


def tensor_bytes(shape, compressed=False, group_dim=0):
    """Bytes of an fp16 tensor, or of its 4-bit form (TorchCompressedDevice.allocate: the group
    dim rounded up to whole groups, 32 bytes of nibbles and an fp16 (scale, min) a group)."""
    if not compressed or len(shape) < 2:
        return 2 * math.prod(shape)
    n = shape[group_dim]
    groups = -(-n // COMPRESS_GROUP)
    return groups * COMPRESS_GROUP_BYTES * (math.prod(shape) // n)


def weight_placement(model, w_gpu, w_cpu, compress_weight=False):
    """Bytes of weights per layer on ('gpu', 'cpu', 'disk'), as init_weight_list places them:
    the home of a tensor follows its fp16 element count; its bytes are fp16 or, with
    compress_weight, FlexGen's 4-bit form."""
    layers, h, _ = OPT_SHAPES[model_key(model)]
    w_disk = 100 - w_gpu - w_cpu
    out = []
    for specs in _layer_specs(layers, h):
        sizes = [math.prod(sh) for sh in specs]
        total = sum(sizes)
        acc = 0
        where = {"gpu": 0, "cpu": 0, "disk": 0}
        for sh, sz in zip(specs, sizes):
            acc += sz
            mid = (acc - sz / 2) / total
            home = _get_choice(mid * 100, [w_disk, w_cpu, w_gpu], ["disk", "cpu", "gpu"])
            where[home] += tensor_bytes(sh, compress_weight)
        out.append(where)
    return out


def cache_placement_error(percent, compress_cache):
    """Why FlexGen cannot run this KV placement (None if it can): a compressed cache must sit
    whole on one device (init_cache_one_gpu_batch asserts it is not the mixed device)."""
    c_gpu, c_cpu = percent[2], percent[3]
    if compress_cache and not (c_gpu == 100 or c_cpu == 100 or c_gpu + c_cpu == 0):
        return (f"--compress-cache needs the KV cache on one device; --percent puts {c_gpu} % "
                f"on the GPU and {c_cpu} % on the CPU")
    return None


def estimate_memory(model, gpu_batch_size, num_gpu_batches, prompt_len, gen_len,
                    percent=(0, 100, 0, 100, 100, 0), cpu_cache_compute=False,
                    compress_weight=False, compress_cache=False):
    """Rough peak GPU bytes and host bytes of one flex_opt run (dummy weights; fp16, or
    FlexGen's 4-bit weights / KV cache with compress_weight / compress_cache). Raises
    ValueError for a placement FlexGen cannot run (cache_placement_error)."""
    why = cache_placement_error(percent, compress_cache)
    if why:
        raise ValueError(why)
    layers, h, heads = OPT_SHAPES[model_key(model)]
    w_gpu, w_cpu, c_gpu, c_cpu, a_gpu, a_cpu = percent
    b, ngb, s = gpu_batch_size, num_gpu_batches, prompt_len
    s_tot = prompt_len + gen_len - 1
    v = OPT_VOCAB
    bsh = b * s * h * 2

    place = weight_placement(model, w_gpu, w_cpu, compress_weight)
    w_gpu_b = sum(p["gpu"] for p in place)
    w_cpu_b = sum(p["cpu"] for p in place)
    # Streaming buffers: the layer being computed and the one prefetched (wrapping around).
    moved = [p["cpu"] + p["disk"] for p in place]
    stream = max(moved[j] + moved[(j + 1) % len(moved)] for j in range(len(moved)))
    # Compressed weights, wherever they live, are decompressed to fp16 on the GPU for each
    # use, a layer's matrices at once (mha, mha_gen, mlp, the embeddings).
    decompress = max(sum(tensor_bytes(sh) for sh in specs if len(sh) >= 2)
                     for specs in _layer_specs(layers, h)) if compress_weight else 0

    # KV cache: (s_tot, b*heads, h/heads), K and V, per layer and GPU batch, fp16 or 4-bit
    # along the head dim; the GPU share is rounded down to a multiple of `heads` rows
    # (TorchMixedDevice).
    rows = b * heads
    if c_gpu >= 100:
        rows_gpu = rows
    elif c_cpu >= 100 or c_gpu <= 0:
        rows_gpu = 0
    else:
        rows_gpu = int(rows * c_gpu / 100) // heads * heads
    per_row_fp16 = 2 * tensor_bytes((s_tot, 1, h // heads))  # K and V
    per_row = 2 * tensor_bytes((s_tot, 1, h // heads), compress_cache, 2)
    kv_total = layers * ngb * rows * per_row
    kv_gpu = layers * ngb * rows_gpu * per_row
    kv_cpu = kv_total - kv_gpu

    # Prefill peak (activations on the GPU when a_gpu == 100).
    hidden_all = (ngb + 1) * bsh if a_gpu == 100 else 2 * bsh
    att_w = b * heads * s * s * 2
    attn = 2 * att_w + 6 * bsh
    mlp = 7 * bsh
    out_embed = b * s * v * 2 + 2 * bsh
    kv_new = 4 * bsh  # K/V of two GPU batches waiting to be stored
    prefill = hidden_all + max(attn, mlp, out_embed) + kv_new
    # Decode peak: the KV of the current and the prefetched GPU batch, plus the reshaped
    # copies inside mha_gen (a compressed KV is first decompressed to fp16, then reshaped).
    # With --cpu-cache-compute the KV stays on the CPU.
    kv_layer_batch = rows * per_row
    kv_layer_batch_fp16 = rows * per_row_fp16
    kv_decode = (2 * kv_layer_batch + kv_layer_batch_fp16
                 + (kv_layer_batch_fp16 if compress_cache else 0))
    decode = (2 * bsh // s) * ngb + (0 if cpu_cache_compute else kv_decode)
    gpu = w_gpu_b + kv_gpu + stream + decompress + max(prefill, decode)
    gpu = int(gpu * 1.10) + int(0.75 * GiB)  # fragmentation, cuBLAS workspace

    pinned_relay = 0 if cpu_cache_compute else 2 * (1 << math.ceil(math.log2(max(kv_layer_batch // 2, 1))))
    # fp32 K and V of one GPU batch (a compressed cache is decompressed into the same shape).
    workspace = (2 * s_tot * rows * (h // heads) * 4) if cpu_cache_compute else 0
    host = (w_cpu_b + kv_cpu + pinned_relay + workspace
            + 4 * 2 * GiB        # TorchDisk: 4 copy threads x 2 GiB pinned relay buffers
            + 4 * GiB)           # interpreter, torch, CUDA host state, numpy temporaries
    if a_cpu == 100:
        host += (ngb + 1) * bsh
    return {"gpu_bytes": gpu, "host_bytes": host, "weights_gpu_bytes": w_gpu_b,
            "weights_cpu_bytes": w_cpu_b, "kv_gpu_bytes": kv_gpu, "kv_cpu_bytes": kv_cpu,
            "prefill_peak_bytes": prefill, "decode_peak_bytes": decode,
            "stream_bytes": stream, "decompress_bytes": decompress}


# ---------------------------------------------------------------------------------------
# Tokenizer stand-in
# ---------------------------------------------------------------------------------------
_CORPUS = (["Paris is the capital city of France."] * 50 +
           ["The quick brown fox jumps over the lazy dog."] * 20 +
           ["A large language model generates one token at a time."] * 20)
OPT_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in facebook/opt-*


def build_standin_tokenizer(padding_side="left"):
    """A small OPT-like tokenizer (ids < 300 < 50272), built in memory, deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=OPT_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A </s> $B", special_tokens=[("</s>", 2)])
    assert [tok.token_to_id(t) for t in OPT_SPECIALS] == [0, 1, 2, 3]
    try:
        from transformers import PreTrainedTokenizerFast
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token="</s>", eos_token="</s>", unk_token="<unk>",
            pad_token="<pad>", padding_side=padding_side, model_max_length=1 << 30)
    except Exception as e:  # a transformers without this class/keyword: minimal duck type
        print(f"[flexgen_run] PreTrainedTokenizerFast unavailable ({e!r}); "
              f"using a minimal tokenizer object", file=sys.stderr)
        return _MiniTokenizer(tok, padding_side)


class _MiniTokenizer:
    """What flex_opt uses of a tokenizer: __call__(padding='max_length'), batch_decode."""

    class _Out(dict):
        __getattr__ = dict.__getitem__

    def __init__(self, tok, padding_side):
        self.tok, self.padding_side = tok, padding_side
        self.pad_token_id, self.eos_token_id, self.bos_token_id = 1, 2, 2

    def __call__(self, texts, padding=None, max_length=None, **_):
        ids = [e.ids for e in self.tok.encode_batch(list(texts))]
        if padding == "max_length" and max_length:
            pad = lambda x: ([1] * (max_length - len(x)) + x) if self.padding_side == "left" \
                else (x + [1] * (max_length - len(x)))
            ids = [pad(x) if len(x) < max_length else x for x in ids]
        mask = [[int(t != 1) for t in x] for x in ids]
        return self._Out(input_ids=ids, attention_mask=mask)

    def batch_decode(self, seqs, skip_special_tokens=True):
        return [self.tok.decode([int(t) for t in s], skip_special_tokens=skip_special_tokens)
                for s in seqs]


def install_tokenizer_standin(log=print):
    import transformers
    auto = transformers.AutoTokenizer
    original = auto.from_pretrained.__func__ if hasattr(auto.from_pretrained, "__func__") \
        else auto.from_pretrained
    cache = {}

    def from_pretrained(cls, name, *args, **kwargs):
        if isinstance(name, str) and os.path.isdir(os.path.expanduser(name)):
            return original(cls, name, *args, **kwargs)  # a real local tokenizer: use it
        side = kwargs.get("padding_side", "left")
        if side not in cache:
            cache[side] = build_standin_tokenizer(side)
            log(f"[flexgen_run] tokenizer stand-in for {name!r} (offline; dummy prompts only)")
        return cache[side]

    auto.from_pretrained = classmethod(from_pretrained)


# ---------------------------------------------------------------------------------------
# Compat patches
# ---------------------------------------------------------------------------------------
def apply_compat_patches(log=print):
    """Patches for torch/numpy APIs that flexgen 0.1.8 (written for torch 1.12) uses.

    Applied only when the API is missing; with torch 2.11, numpy 2.x and python 3.12 none
    was needed as of this writing (Tensor.storage() is deprecated but present). Returns the
    list of patches applied.
    """
    import torch
    applied = []
    import flexgen.utils as fu
    import flexgen.pytorch_backend as fb

    if not hasattr(torch.Tensor, "storage"):
        # cpu_mem_stats (a statistic printed after the timed run) uses Tensor.storage().
        def cpu_mem_stats():
            import gc
            seen, total = set(), 0
            for obj in gc.get_objects():
                try:
                    if torch.is_tensor(obj) and not obj.is_cuda:
                        p = obj.untyped_storage().data_ptr()
                        if p not in seen:
                            seen.add(p)
                            total += obj.numel() * obj.element_size()
                except Exception:
                    pass
            return total
        fu.cpu_mem_stats = cpu_mem_stats
        fb.cpu_mem_stats = cpu_mem_stats
        applied.append("cpu_mem_stats: Tensor.storage() -> untyped_storage()")

    for p in applied:
        log(f"[flexgen_run] compat patch: {p}")
    return applied


# ---------------------------------------------------------------------------------------
def _versions():
    out = {"python": sys.version.split()[0]}
    for mod in ("torch", "transformers", "numpy", "tokenizers", "flexgen"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", None)
        except Exception as e:
            out[mod] = f"unavailable: {e!r}"
    if out.get("flexgen") is None:
        try:
            from importlib.metadata import version
            out["flexgen"] = version("flexgen")
        except Exception:
            pass
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    wp = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    wp.add_argument("--dry-run", action="store_true")
    wp.add_argument("--gpu-mem-gib", type=float, default=None)
    wp.add_argument("--result-json", default=None)
    wp.add_argument("--real-tokenizer", action="store_true")
    wopt, rest = wp.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        print(__doc__)

    t_start = time.time()
    versions = _versions()
    print(f"[flexgen_run] versions: {json.dumps(versions)}", flush=True)

    import flexgen.flex_opt as fo
    patches = apply_compat_patches()
    if not wopt.real_tokenizer:
        install_tokenizer_standin()

    parser = argparse.ArgumentParser(prog="flexgen_run.py (flexgen.flex_opt)")
    fo.add_parser_arguments(parser)
    args = parser.parse_args(rest)
    assert len(args.percent) == 6, "--percent takes six numbers"

    num_prompts = args.gpu_batch_size * args.num_gpu_batches
    try:
        est = estimate_memory(args.model, args.gpu_batch_size, args.num_gpu_batches,
                              args.prompt_len, args.gen_len, tuple(args.percent),
                              args.cpu_cache_compute, args.compress_weight, args.compress_cache)
    except ValueError as e:  # FlexGen would stop on a bare assert after minutes of set-up
        print(f"[flexgen_run] error: {e}", file=sys.stderr, flush=True)
        return 2
    print("[flexgen_run] estimate: " + json.dumps(
        {k: round(v / GiB, 2) for k, v in est.items()}) + " (GiB)", flush=True)

    result = {"argv": rest, "versions": versions, "patches": patches,
              "model": args.model, "percent": args.percent,
              "gpu_batch_size": args.gpu_batch_size, "num_gpu_batches": args.num_gpu_batches,
              "batch": num_prompts, "prompt_len": args.prompt_len, "gen_len": args.gen_len,
              "cut_gen_len": args.cut_gen_len, "cpu_cache_compute": args.cpu_cache_compute,
              "pin_weight": args.pin_weight, "compress_weight": args.compress_weight,
              "compress_cache": args.compress_cache, "gpu_mem_gib_cap": wopt.gpu_mem_gib,
              "estimate_gib": {k: round(v / GiB, 3) for k, v in est.items()}}

    if wopt.dry_run:
        tok = fo.AutoTokenizer.from_pretrained("facebook/opt-30b", padding_side="left")
        ids = fo.get_test_inputs(args.prompt_len, num_prompts, tok)
        warm = fo.get_test_inputs(32, num_prompts, tok)
        assert len(ids) == num_prompts and all(len(x) == args.prompt_len for x in ids)
        assert len(warm[0]) == 32 and max(max(x) for x in ids) < OPT_VOCAB
        real = [t for t in ids[0] if t != 1]
        print(f"[flexgen_run] dry run: {num_prompts} prompts of {len(ids[0])} ids "
              f"({len(real)} non-pad: {real}); tokenizer {type(tok).__name__}; "
              f"log file {fo.get_filename(args) + '.log' if args.log_file == 'auto' else args.log_file}",
              flush=True)
        result["dry_run"] = True
        _emit(result, wopt.result_json)
        return 0

    import torch
    if wopt.gpu_mem_gib is not None:
        total = torch.cuda.get_device_properties(0).total_memory
        frac = wopt.gpu_mem_gib * GiB / total
        if frac < 1.0:
            torch.cuda.set_per_process_memory_fraction(frac, 0)
            print(f"[flexgen_run] GPU cap: {wopt.gpu_mem_gib} GiB of {total / GiB:.1f} GiB "
                  f"(fraction {frac:.4f})", flush=True)
        result["gpu_total_gib"] = round(total / GiB, 2)

    captured = {}
    orig_log = fo.write_benchmark_log

    def write_benchmark_log(filename, model_size, cache_size, hidden_size, gpu_peak_mem,
                            projected, prefill_latency, prefill_throughput, decode_latency,
                            decode_throughput, total_latency, total_throughput):
        captured.update(
            model_size_gib=model_size / GiB, cache_size_gib=cache_size / GiB,
            hidden_size_gib=hidden_size / GiB, gpu_peak_mem_gib=gpu_peak_mem / GiB,
            projected=bool(projected), prefill_latency_s=prefill_latency,
            prefill_tokens_per_s=prefill_throughput, decode_latency_s=decode_latency,
            decode_tokens_per_s=decode_throughput, total_latency_s=total_latency,
            total_tokens_per_s=total_throughput)
        return orig_log(filename, model_size, cache_size, hidden_size, gpu_peak_mem,
                        projected, prefill_latency, prefill_throughput, decode_latency,
                        decode_throughput, total_latency, total_throughput)

    fo.write_benchmark_log = write_benchmark_log
    try:
        fo.run_flexgen(args)
        if not captured:
            raise RuntimeError("FlexGen finished without writing its benchmark log")
        result.update(captured)
        result["gpu_max_reserved_gib"] = torch.cuda.max_memory_reserved(0) / GiB
        result["wall_s"] = time.time() - t_start
        _emit(result, wopt.result_json)
        rc = 0
    except BaseException:
        import traceback
        traceback.print_exc()
        rc = 1
    # FlexGen's TorchDisk starts 4 non-daemon copy threads; when it fails before its own
    # `finally: env.close_copy_threads()` (an OOM while placing weights, say) they keep the
    # interpreter alive for ever. Leave without waiting for them or for destructors.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def _emit(result, path):
    line = json.dumps(result, default=str)
    print("FLEXGEN_RESULT " + line, flush=True)
    if path:
        with open(path, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
