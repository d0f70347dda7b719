#!/usr/bin/env python3
"""How far Hugging Face's own fp16 and bf16 logits are from its fp32 logits on the tiny test
models: the yardstick for the CUDA backend's logits bound (tests/gpu/engine_cuda_test.cpp).

For every model in tests/models that has a golden in tests/goldens, each golden case is run
teacher-forced (prompt + the fp32 greedy tokens, one forward pass without a cache) in fp32 and,
with the weights cast to fp16 and to bf16, in that dtype (eager attention, on the GPU when there
is one). Each generated position's logits row is compared with fp32's as the CUDA test does:
||x - ref||_2 / ||ref||_2. Prints, per model and dtype, the worst and the median row.

Needs torch and transformers (the GPU machine has both):
  python3 tools/hf_dtype_logits.py [--models DIR] [--goldens DIR] [--json OUT]
"""
import argparse
import json
import os
import statistics
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--models", default=os.path.join(root, "tests", "models"))
    ap.add_argument("--goldens", default=os.path.join(root, "tests", "goldens"))
    ap.add_argument("--json", help="also write the per-model numbers here")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    import transformers

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"[hf-logits] torch {torch.__version__}, transformers {transformers.__version__}, on {dev}", flush=True)
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    results = []
    for name in sorted(os.listdir(args.goldens)):
        if not name.endswith(".json"):
            continue
        model_name = name[: -len(".json")]
        model_dir = os.path.join(args.models, model_name)
        if not os.path.isdir(model_dir):
            print(f"{model_name}: no model directory {model_dir}", file=sys.stderr)
            continue
        with open(os.path.join(args.goldens, name)) as f:
            golden = json.load(f)
        seqs = []
        for case in golden["cases"]:
            prompt, greedy = case["prompt"], case["greedy"]
            seqs.append((prompt + greedy[:-1], len(prompt), len(greedy)))

        def rows(dtype):
            m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
            m = m.to(dtype).to(dev).eval()
            out = []
            with torch.no_grad():
                for ids, n_prompt, n_gen in seqs:
                    logits = m(torch.tensor([ids], device=dev), use_cache=False).logits[0].float()
                    out.append(logits[n_prompt - 1: n_prompt - 1 + n_gen].cpu())
            return out

        ref = rows(torch.float32)
        for dname, dt in dtypes.items():
            got = rows(dt)
            errs = []
            for a, b in zip(got, ref):
                errs += ((a - b).norm(dim=-1) / b.norm(dim=-1)).tolist()
            r = {"model": model_name, "dtype": dname, "dtype_on_disk": golden.get("dtype_on_disk"),
                 "rows": len(errs), "worst": max(errs), "median": statistics.median(errs)}
            results.append(r)
            print(f"[hf-logits] {model_name} ({r['dtype_on_disk']} on disk) {dname}: {r['rows']} rows, "
                  f"worst {r['worst']:.3e}, median {r['median']:.3e}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
