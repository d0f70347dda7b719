#!/usr/bin/env python3
"""Side-by-side benchmark: FlexGen (PyPI `flexgen`, dummy weights) against `hybridserve bench`.

Runs, on one GPU machine in one go, both systems on the same workloads (model shape, batch,
prompt length, generation length) and GPU memory budgets, and prints ONE markdown table at
the end (plus a details table for HybridServe just before it). Writes to --out:
  bench_compare.json   every run: command, status, reason, wall time, parsed numbers
  bench_compare.md     the tables
  bench_compare.log    the full output of every run, one after the other
(three files only: the device tool brings back at most 8 files from $OUT).

For each workload and budget:
  FlexGen all-CPU   --percent 0 100 0 100 100 0 (weights and KV cache on the CPU, pinned
                    weights), run once per workload under the smallest budget's cap and
                    reported for every budget (it fits all of them).
  FlexGen best      --flexgen-splits auto: the best of all-CPU and up to
                    --flexgen-max-candidates splits that the memory model of
                    tools/flexgen_run.py says fit the budget (as much weight on the GPU as
                    fits; with all weights on the GPU, as much KV cache as fits), most
                    aggressive first, stopping at the first that runs (unless
                    --flexgen-exhaustive). The budget is enforced with the caching-allocator
                    cap (--gpu-mem-gib of tools/flexgen_run.py).
                    With --flexgen-compress (default all) the same search again for each
                    4-bit mode (--compress-weight, --compress-cache, both), sized with the
                    compressed bytes; the report gives the best of everything (its config
                    says whether it was compressed) and the best uncompressed.
  ours              <binary> bench --model-shape M --batch B --prompt-len P --gen-len G
                    --policy X --gpu-mem-gib BUDGET --json [--weight-format F], for X in
                    --policies (F: --ours-weight-format).

Order (so that a --time-limit-s cut keeps the headline numbers): phase 1, per workload:
ours `auto` for each budget, FlexGen all-CPU, FlexGen best for each budget (with
--flexgen-splits splits-first: the splits before all-CPU), then FlexGen's compressed
candidates; phase 2: the other policies. A run
that would start after the time limit is SKIPPED (time limit), and so is one with less time
left than 0.7x the wall time a similar run of the same workload took (FlexGen's all-CPU or an
earlier split; our `auto`), rather than being started and killed; every subprocess has a
timeout (the smaller of --run-timeout-s and the time left); a failure is recorded as FAILED
(reason) and never stops the driver.

Batch: --batch (default 128). With --batch-auto (default) it is lowered, for a workload, to
the largest of 128/96/64/48/32/16/8 whose FlexGen all-CPU run fits --host-mem-gib (KV cache
and weights live in host memory); both systems then run that batch. FlexGen's GPU batch is
the largest of 64/32/16/8/4 dividing the batch whose prefill fits the smallest budget.
See docs/FLEXGEN.md.
"""
import argparse
import datetime
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import flexgen_run as fgr  # noqa: E402  (pure Python part: memory model, no torch import)

GiB = 1 << 30
ALL_CPU = (0, 100, 0, 100, 100, 0)


def log(msg):
    print(f"[bench_compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def csv_list(s, conv=str):
    return [conv(x.strip()) for x in s.split(",") if x.strip()]


def gpu_info():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            name, mib, drv = [x.strip() for x in out.stdout.strip().splitlines()[0].split(",")]
            return {"name": name, "total_gib": float(mib) / 1024, "driver": drv}
    except Exception:
        pass
    return None


def host_mem_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1 << 20)
    except Exception:
        pass
    return None


def find_binary(arg):
    if arg:
        return arg
    for c in ("build/src/hybridserve", "build/hybridserve", "build/bin/hybridserve"):
        p = os.path.join(ROOT, c)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which("hybridserve") or os.path.join(ROOT, "build/src/hybridserve")


# Share of a similar earlier run's wall time that a run must have left to be started: FlexGen's
# split runs took 0.8-1.0x its all-CPU run of the same workload on an H100
# (docs/benchmarks-log/2026-11.md).
EXPECT_SHARE = 0.7


def skip_reason(remaining_s, min_run_s, time_limit_s, expect_s=None):
    """Why a run must not start (None: start it). expect_s: the wall time a similar run of the
    same workload took; a run started with less time left would be killed by the time limit,
    wasting what is left."""
    if remaining_s < min_run_s:
        return f"time limit ({time_limit_s:.0f} s) reached"
    if expect_s is not None and remaining_s < EXPECT_SHARE * expect_s:
        return (f"time limit: {max(remaining_s, 0):.0f} s left of {time_limit_s:.0f} s, and a "
                f"similar run of this workload took {expect_s:.0f} s")
    return None


def similar_wall_s(records):
    """The shortest wall time of the successful runs among records (None if none)."""
    walls = [r["wall_s"] for r in records if r and r.get("status") == "ok" and "wall_s" in r]
    return min(walls) if walls else None


def shorter_gen_wall_s(records, gen, scales=True):
    """The wall time a run of `gen` new tokens should take, from successful runs of the same
    model, batch, prompt and budget with fewer new tokens (None if none): their wall time x
    gen / their gen when the run's length scales with gen (ours; FlexGen without a cut),
    else as it was (FlexGen with --cut-gen-len times the same few steps). Over-estimates a
    run whose set-up is a large part of it, which only makes the driver skip sooner.
    On an H100, ours opt-30b p1024 g32 took 90 s, and g128, started with 57 s left, was killed."""
    walls = [r["wall_s"] * (gen / r["workload"]["gen"] if scales else 1.0) for r in records
             if r and r.get("status") == "ok" and "wall_s" in r and r["workload"]["gen"] < gen]
    return min(walls) if walls else None


def same_prompt_records(workloads, results, i, budget, key):
    """The records under `key` ("ours": a dict by policy; "fg_all_cpu": one record or None) of
    the other workloads with workload i's model, batch and prompt, under the same budget."""
    w = workloads[i]
    out = []
    for j, v in enumerate(workloads):
        if j != i and all(v[k] == w[k] for k in ("model", "batch", "prompt")):
            r = results[(j, budget)][key]
            out += list(r.values()) if key == "ours" else [r]  # a record is a dict too
    return out


# ---------------------------------------------------------------------------------------
class Runner:
    """Runs subprocesses under a global time budget; records every run."""

    def __init__(self, args, out_dir):
        self.args = args
        self.t0 = time.time()
        self.records = []
        self.log_path = os.path.join(out_dir, "bench_compare.log")
        self.logf = open(self.log_path, "w")
        self.work = tempfile.mkdtemp(prefix="bench_compare_")

    def remaining(self):
        return self.args.time_limit_s - (time.time() - self.t0)

    def run(self, kind, label, cmd, meta, expect_s=None):
        """Runs cmd unless the time left is below --min-run-s or below expect_s, the wall time
        a run like it is known to need (then it is skipped, not started and killed)."""
        rec = dict(meta, kind=kind, label=label, cmd=cmd, cmd_str=shlex.join(cmd))
        rem = self.remaining()
        why = skip_reason(rem, self.args.min_run_s, self.args.time_limit_s, expect_s)
        if why:
            rec.update(status="skipped", reason="time limit", detail=why)
            log(f"SKIP {label}: {why}")
            self.records.append(rec)
            return rec
        timeout = max(1.0, min(self.args.run_timeout_s, rem))
        log(f"RUN  {label} (timeout {timeout:.0f} s): {rec['cmd_str']}")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        t = time.time()
        out, rc, timed_out = "", None, False
        try:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace", env=env,
                                 cwd=self.work if kind == "flexgen" else ROOT,
                                 start_new_session=True)
            try:
                out, _ = p.communicate(timeout=timeout)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # the group this run started, only
                except ProcessLookupError:
                    pass
                try:
                    out, _ = p.communicate(timeout=30)
                except Exception:
                    out = out or ""
                rc = p.returncode
        except OSError as e:
            out, rc = f"could not start: {e!r}", None
        rec["wall_s"] = round(time.time() - t, 2)
        rec["rc"] = rc
        rec["output_tail"] = (out or "")[-3000:]
        self.logf.write(f"\n===== {label}\n$ {rec['cmd_str']}\n"
                        f"(rc={rc}, wall={rec['wall_s']} s, timed_out={timed_out})\n")
        self.logf.write(out or "")
        self.logf.flush()
        if timed_out:
            rec.update(status="failed", reason=f"timeout {timeout:.0f} s")
        else:
            parse = parse_flexgen if kind == "flexgen" else parse_ours
            metrics, err = parse(out or "", rc)
            if err:
                rec.update(status="failed", reason=err)
            else:
                rec.update(status="ok", metrics=metrics)
        if rec["status"] == "ok":
            log(f"OK   {label}: {rec['metrics'].get('total_tokens_per_s', 0):.2f} tok/s "
                f"({rec['wall_s']} s)")
        else:
            log(f"FAIL {label}: {rec['reason']} ({rec['wall_s']} s)")
        self.records.append(rec)
        return rec


def failure_reason(out, rc):
    if re.search(r"OutOfMemoryError|CUDA out of memory|CUBLAS_STATUS_ALLOC_FAILED|"
                 r"cudaErrorMemoryAllocation|out of memory", out, re.I):
        return "OOM"
    if rc is not None and rc < 0:
        return f"killed by signal {-rc}" + (" (host OOM?)" if rc == -9 else "")
    lines = [l.strip() for l in out.strip().splitlines() if l.strip()]
    for l in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|error|failed|Failed)\b", l) or "error:" in l.lower():
            return l[:80]
    return (f"rc={rc}: " + (lines[-1][:80] if lines else "no output"))


def parse_flexgen(out, rc):
    res = None
    for line in out.splitlines():
        if line.startswith("FLEXGEN_RESULT "):
            try:
                res = json.loads(line[len("FLEXGEN_RESULT "):])
            except ValueError:
                pass
    if res is None:  # fall back on FlexGen's own log lines
        m = {k: re.search(rf"{k} throughput: ([\d.]+) token/s", out)
             for k in ("prefill", "decode", "total")}
        if m["total"]:
            res = {f"{k}_tokens_per_s": float(v.group(1)) for k, v in m.items() if v}
    if rc != 0 or not res or "total_tokens_per_s" not in res:
        return None, failure_reason(out, rc) if (rc != 0 or not res) else "no throughput in output"
    return res, None


def parse_ours(out, rc):
    obj = None
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                pass
    if obj is None:  # a pretty-printed object: the last balanced {...}
        end = out.rfind("}")
        start = out.rfind("\n{", 0, end)
        while obj is None and start >= 0:
            try:
                obj = json.loads(out[start + 1:end + 1])
            except ValueError:
                start = out.rfind("\n{", 0, start)
        if obj is None and out.lstrip().startswith("{"):
            try:
                obj = json.loads(out[out.find("{"):end + 1])
            except ValueError:
                pass
    if rc != 0:
        return None, failure_reason(out, rc)
    if not isinstance(obj, dict):
        return None, "no JSON object on stdout"
    if not isinstance(obj.get("total_tokens_per_s"), (int, float)):
        return None, "JSON has no total_tokens_per_s"
    return obj, None


# ---------------------------------------------------------------------------------------
def choose_sizes(model, batch, prompt, gen, min_budget_gib, host_limit_gib, batch_auto,
                 gbs_max):
    """(batch, gpu_batch_size, num_gpu_batches, note) for a workload.

    FlexGen's GPU batch: the largest divisor of the batch, at most gbs_max, whose all-CPU
    run (prefill activations, mostly) fits 90% of the smallest budget. The batch: --batch,
    or with batch_auto the largest of 128/96/64/48/32/16/8 below it whose all-CPU run fits
    the host memory limit.
    """
    def sizes(b):
        divs = [g for g in range(min(gbs_max, b), 0, -1) if b % g == 0]
        for g in divs:
            e = fgr.estimate_memory(model, g, b // g, prompt, gen, ALL_CPU)
            if e["gpu_bytes"] <= 0.9 * min_budget_gib * GiB:
                return g, e
        g = divs[-1]
        return g, fgr.estimate_memory(model, g, b // g, prompt, gen, ALL_CPU)

    batches = [batch] + ([b for b in (128, 96, 64, 48, 32, 16, 8) if b < batch]
                         if batch_auto else [])
    first = None
    for b in batches:
        gbs, est = sizes(b)
        first = first or est
        host = est["host_bytes"] / GiB
        if host <= host_limit_gib or b == batches[-1]:
            note = ""
            if b != batch:
                note = (f"batch {batch} -> {b}: FlexGen all-CPU needs ~{first['host_bytes'] / GiB:.0f}"
                        f" GiB host memory at batch {batch} (limit {host_limit_gib:.0f} GiB)")
            if host > host_limit_gib:
                note += (" " if note else "") + f"(batch {b} needs ~{host:.0f} GiB: may not fit)"
            return b, gbs, b // gbs, note
    raise AssertionError("unreachable")


def compress_modes(arg):
    """The compression modes of --flexgen-compress: "none" -> [], "all" -> every mode, else a
    comma list of fgr.COMPRESS_MODES names. Weights and KV together first: FlexGen's own
    compressed benchmarks use both for opt-6.7b and opt-175b (benchmark/flexgen/bench_suite.py)."""
    if arg == "none":
        return []
    if arg == "all":
        return ["weight+cache", "weight", "cache"]
    modes = csv_list(arg)
    bad = [m for m in modes if m not in fgr.COMPRESS_MODES or not m]
    if bad:
        raise ValueError(f"--flexgen-compress: unknown mode(s) {bad}; "
                         f"use none, all or a comma list of weight, cache, weight+cache")
    return list(dict.fromkeys(modes))


def compress_label(mode):
    """How the report names a compression mode ("" = none)."""
    return {"": "", "weight": "4-bit weights", "cache": "4-bit KV",
            "weight+cache": "4-bit weights+KV"}[mode]


def placement_key(model, gbs, ngb, prompt, gen, pct, compress=""):
    e = fgr.estimate_memory(model, gbs, ngb, prompt, gen, pct, False,
                            *fgr.COMPRESS_MODES[compress])
    return (e["weights_gpu_bytes"], e["kv_gpu_bytes"])


def fits_budget(model, gbs, ngb, prompt, gen, pct, budget_gib, compress="", frac=1.0):
    """Whether FlexGen's estimated peak GPU bytes for placement `pct` under compression mode
    `compress` fit `frac` of the budget. Host memory only falls as weights/KV move to the GPU
    or shrink to 4 bits: the uncompressed all-CPU run sized the batch."""
    e = fgr.estimate_memory(model, gbs, ngb, prompt, gen, pct, False,
                            *fgr.COMPRESS_MODES[compress])
    return e["gpu_bytes"] <= frac * budget_gib * GiB


def flexgen_candidates(model, gbs, ngb, prompt, gen, budget_gib, max_n, compress=""):
    """Splits that fit `budget_gib` under compression mode `compress` ("": none), most
    GPU-resident first. Uncompressed, all-CPU is left out (it runs on its own, once per
    workload); compressed, all-CPU ends the list. A compressed KV cache sits whole on one
    device (fgr.cache_placement_error), so its GPU share is 100 or 0."""
    _, compress_cache = fgr.COMPRESS_MODES[compress]
    kv_shares = [100] if compress_cache else list(range(100, 0, -5))

    def fits(pct, frac=1.0):
        return fits_budget(model, gbs, ngb, prompt, gen, pct, budget_gib, compress, frac)

    cands = []
    w_max = next((w for w in range(100, -1, -5) if fits((w, 100 - w, 0, 100, 100, 0))), 0)
    if w_max == 100:
        c_max = next((c for c in kv_shares if fits((100, 0, c, 100 - c, 100, 0))), 0)
        if c_max:
            cands.append((100, 0, c_max, 100 - c_max, 100, 0))
            c_safe = next((c for c in kv_shares
                           if c < c_max and fits((100, 0, c, 100 - c, 100, 0), 0.9)), 0)
            cands.append((100, 0, c_safe, 100 - c_safe, 100, 0))
        else:
            cands.append((100, 0, 0, 100, 100, 0))
    if w_max < 100 or len(cands) < max_n:
        if w_max > 0 and w_max < 100:
            cands.append((w_max, 100 - w_max, 0, 100, 100, 0))
        w_safe = next((w for w in range(min(w_max, 100) - 5, 0, -5)
                       if fits((w, 100 - w, 0, 100, 100, 0), 0.9)), 0)
        if w_safe:
            cands.append((w_safe, 100 - w_safe, 0, 100, 100, 0))
    seen, out = set(), []
    if compress:
        cands.append(ALL_CPU)
    else:
        seen.add(placement_key(model, gbs, ngb, prompt, gen, ALL_CPU))
    for c in cands:
        k = placement_key(model, gbs, ngb, prompt, gen, c, compress)
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out[:max_n]


def flexgen_config_label(rec):
    """A FlexGen run's configuration as the report names it: its split (all-CPU for
    --percent 0 100 0 100 100 0), cpu-attn, and its compression."""
    pct = tuple(rec.get("percent") or ())
    parts = ["all-CPU" if pct == ALL_CPU else pct_str(pct)]
    if rec.get("cpu_attn"):
        parts[0] += " cpu-attn"
    if rec.get("compress"):
        parts.append(compress_label(rec["compress"]))
    return ", ".join(parts)


def flexgen_bests(records):
    """(best, best uncompressed) among FlexGen's successful runs by total tok/s (None where
    none). A run without a "compress" key is uncompressed."""
    oks = [x for x in records if x and x.get("status") == "ok"]

    def top(rs):
        return max(rs, key=lambda x: x["metrics"]["total_tokens_per_s"]) if rs else None
    return top(oks), top([x for x in oks if not x.get("compress")])


def pct_str(p):
    return " ".join(str(x) for x in p)


# ---------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=None, help="hybridserve binary (default: build/src/hybridserve)")
    ap.add_argument("--models", default="opt-13b", help="comma list: opt-6.7b,opt-13b,opt-30b")
    ap.add_argument("--prompt-lens", default="512")
    ap.add_argument("--gen-lens", default="32")
    ap.add_argument("--budgets", default="24,full",
                    help="GPU memory budgets in GiB; 'full' = the GPU's memory less --full-reserve-gib")
    ap.add_argument("--policies", default="kv,act,hybrid,auto")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--no-batch-auto", dest="batch_auto", action="store_false",
                    help="keep --batch even if FlexGen's host memory estimate exceeds --host-mem-gib")
    ap.add_argument("--gpu-batch-size", type=int, default=64, help="FlexGen's largest GPU batch")
    ap.add_argument("--flexgen-splits", choices=["auto", "splits-first", "all-cpu"],
                    default="auto",
                    help="auto: all-CPU, then the candidate splits; splits-first: the splits "
                         "before all-CPU, so that a time limit cuts all-CPU rather than the "
                         "split that is FlexGen's best where its weights fit partly on the GPU "
                         "(opt-13b p512, opt-6.7b p1024 at 24 GiB); all-cpu: all-CPU only")
    ap.add_argument("--flexgen-max-candidates", type=int, default=2)
    ap.add_argument("--flexgen-exhaustive", action="store_true",
                    help="run every candidate split instead of stopping at the first that runs")
    ap.add_argument("--flexgen-cpu-attn", action="store_true",
                    help="also try all-CPU placement with --cpu-cache-compute (attention on the CPU)")
    ap.add_argument("--flexgen-compress", default="all",
                    help="FlexGen's 4-bit compression as extra candidates for its best: none, "
                         "all (= weight+cache,weight,cache) or a comma list of weight, cache, "
                         "weight+cache (--compress-weight and/or --compress-cache). The "
                         "uncompressed runs always run; the report gives the best of all and "
                         "the best uncompressed")
    ap.add_argument("--flexgen-cut-gen-len", type=int, default=None,
                    help="pass --cut-gen-len N: FlexGen runs N tokens and projects the decode time")
    ap.add_argument("--flexgen-extra-args", default="", help="appended to every FlexGen command")
    ap.add_argument("--ours-extra-args", default="", help="appended to every hybridserve command")
    ap.add_argument("--ours-weight-format", default=None,
                    help="pass --weight-format X (int4, int8, ...) to every hybridserve command "
                         "(default: not passed, the binary's own default)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for tools/flexgen_run.py")
    ap.add_argument("--time-limit-s", type=float, default=480.0, help="global budget for all runs")
    ap.add_argument("--run-timeout-s", type=float, default=300.0, help="timeout of one run")
    ap.add_argument("--min-run-s", type=float, default=20.0,
                    help="do not start a run with less than this much time left")
    ap.add_argument("--host-mem-gib", type=float, default=None,
                    help="host memory the runs may use (default: 80%% of MemTotal)")
    ap.add_argument("--gpu-total-gib", type=float, default=None,
                    help="GPU memory (default: from nvidia-smi)")
    ap.add_argument("--full-reserve-gib", type=float, default=1.0)
    ap.add_argument("--out", default=None, help="output folder (default: out/bench_compare-<time>)")
    ap.add_argument("--skip-flexgen", action="store_true")
    ap.add_argument("--skip-ours", action="store_true")
    ap.add_argument("--plan-only", action="store_true", help="print the runs and exit")
    args = ap.parse_args()

    models = [fgr.model_key(m) for m in csv_list(args.models)]
    prompts = csv_list(args.prompt_lens, int)
    gens = csv_list(args.gen_lens, int)
    policies = csv_list(args.policies)
    try:
        modes = compress_modes(args.flexgen_compress)
    except ValueError as e:
        sys.exit(str(e))
    fmt = args.ours_weight_format
    gpu = gpu_info()
    gpu_total = args.gpu_total_gib or (gpu["total_gib"] if gpu else None)
    budgets = []  # (label, GiB)
    for b in csv_list(args.budgets):
        if b.lower() == "full":
            if gpu_total is None:
                sys.exit("--budgets full needs nvidia-smi or --gpu-total-gib")
            g = math.floor((gpu_total - args.full_reserve_gib) * 2) / 2
            budgets.append((f"full ({g:g} GiB)", g))
        else:
            budgets.append((f"{float(b):g} GiB", float(b)))
    budgets.sort(key=lambda x: x[1])
    min_budget = budgets[0][1]
    host_total = host_mem_gib()
    host_limit = args.host_mem_gib or (0.8 * host_total if host_total else 100.0)
    binary = find_binary(args.binary)
    out_dir = args.out or os.path.join(
        ROOT, "out", "bench_compare-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=True)
    fg_extra = shlex.split(args.flexgen_extra_args)
    ours_extra = shlex.split(args.ours_extra_args)

    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": socket.gethostname(), "gpu": gpu, "host_mem_total_gib": host_total,
            "host_mem_limit_gib": host_limit, "binary": binary, "argv": sys.argv[1:],
            "budgets": budgets, "flexgen_compress": modes, "ours_weight_format": fmt}
    log(f"GPU {gpu}; host memory {host_total} GiB (limit {host_limit:.0f}); binary {binary}; "
        f"budgets {budgets}; time limit {args.time_limit_s:.0f} s")
    if not args.skip_ours and not os.path.exists(binary):
        log(f"WARNING: {binary} does not exist; 'ours' runs will fail")

    # Workloads and their sizes.
    workloads = []
    for m in models:
        for p in prompts:
            for g in gens:
                b, gbs, ngb, note = choose_sizes(m, args.batch, p, g, min_budget, host_limit,
                                                 args.batch_auto, args.gpu_batch_size)
                workloads.append({"model": m, "prompt": p, "gen": g, "batch": b, "gbs": gbs,
                                  "ngb": ngb, "note": note})

    def fg_cmd(w, pct, cap, cpu_attn=False, compress=""):
        c = [args.python, os.path.join(HERE, "flexgen_run.py"), "--gpu-mem-gib", f"{cap:g}",
             "--model", f"facebook/{w['model']}", "--path", "_DUMMY_",
             "--offload-dir", os.path.join(tempfile.gettempdir(), "flexgen_offload"),
             "--percent", *[str(x) for x in pct], "--gpu-batch-size", str(w["gbs"]),
             "--num-gpu-batches", str(w["ngb"]), "--prompt-len", str(w["prompt"]),
             "--gen-len", str(w["gen"]), "--log-file", "flexgen.log"]
        if cpu_attn:
            c.append("--cpu-cache-compute")
        c += fgr.compress_flags(compress)
        if args.flexgen_cut_gen_len:
            c += ["--cut-gen-len", str(args.flexgen_cut_gen_len)]
        return c + fg_extra

    def ours_cmd(w, pol, budget):
        return [binary, "bench", "--model-shape", w["model"], "--batch", str(w["batch"]),
                "--prompt-len", str(w["prompt"]), "--gen-len", str(w["gen"]), "--policy", pol,
                "--gpu-mem-gib", f"{budget:g}", "--json"] + \
            (["--weight-format", fmt] if fmt else []) + ours_extra

    def wl(w):
        return f"{w['model']} b{w['batch']} p{w['prompt']} g{w['gen']}"

    # The plan: a list of steps, each a closure run in order.
    plan = []
    results = {}  # (workload idx, budget label) -> {...}
    for i, w in enumerate(workloads):
        for bl, _ in budgets:
            results[(i, bl)] = {"ours": {}, "fg_all_cpu": None, "fg_cands": []}

    def shorter(i, bl, key):
        return same_prompt_records(workloads, results, i, bl, key)

    def step_ours(i, w, pol, bl, bg):
        label = f"ours {pol}{' ' + fmt if fmt else ''} {wl(w)} @{bl}"

        def f(runner):
            expect = similar_wall_s(list(results[(i, bl)]["ours"].values()))
            if expect is None:
                expect = shorter_gen_wall_s(shorter(i, bl, "ours"), w["gen"])
            rec = runner.run("ours", label, ours_cmd(w, pol, bg),
                             {"workload": w, "budget": bl, "budget_gib": bg, "policy": pol,
                              "weight_format": fmt}, expect_s=expect)
            results[(i, bl)]["ours"][pol] = rec
        return ("ours", label, f)

    def step_fg_all_cpu(i, w):
        def f(runner):
            # Smallest budget first; a success holds for every larger budget, an OOM is
            # retried under the next budget's cap.
            rec = None
            for bl, bg in budgets:
                if rec is not None and rec["status"] == "ok":
                    results[(i, bl)]["fg_all_cpu"] = dict(rec, reused_from=rec["budget"])
                    continue
                if rec is not None and rec.get("reason") not in ("OOM",):
                    results[(i, bl)]["fg_all_cpu"] = rec
                    continue
                rec = runner.run("flexgen", f"flexgen all-CPU {wl(w)} @{bl}",
                                 fg_cmd(w, ALL_CPU, bg),
                                 {"workload": w, "budget": bl, "budget_gib": bg,
                                  "percent": list(ALL_CPU), "cpu_attn": False},
                                 expect_s=shorter_gen_wall_s(shorter(i, bl, "fg_all_cpu"),
                                                             w["gen"],
                                                             not args.flexgen_cut_gen_len))
                results[(i, bl)]["fg_all_cpu"] = rec
            if args.flexgen_cpu_attn:  # same placement, attention on the CPU: once, smallest cap
                bl0, bg0 = budgets[0]
                rec = runner.run("flexgen", f"flexgen all-CPU cpu-attn {wl(w)} @{bl0}",
                                 fg_cmd(w, ALL_CPU, bg0, True),
                                 {"workload": w, "budget": bl0, "budget_gib": bg0,
                                  "percent": list(ALL_CPU), "cpu_attn": True})
                for bl, _ in budgets:
                    results[(i, bl)]["fg_cands"].append(rec)
        return ("flexgen", f"flexgen all-CPU{' (+ cpu-attn)' if args.flexgen_cpu_attn else ''} "
                f"{wl(w)} (cap {budgets[0][0]})", f)

    def step_fg_best(i, w, bl, bg, compress=""):
        """FlexGen's candidate splits for one budget and compression mode ("": none), most
        GPU-resident first, stopping at the first that runs (unless --flexgen-exhaustive).
        With --flexgen-splits all-cpu a compressed mode tries the all-CPU placement only."""
        if args.flexgen_splits == "all-cpu":
            cands = [ALL_CPU]
        else:
            cands = flexgen_candidates(w["model"], w["gbs"], w["ngb"], w["prompt"], w["gen"],
                                       bg, args.flexgen_max_candidates, compress)
        variants = [(c, False) for c in cands]
        what = f" {compress_label(compress)}" if compress else ""

        def f(runner):
            done = False
            for pct, cpu_attn in variants:
                if done and not cpu_attn:
                    continue  # a more GPU-resident split already ran
                r = results[(i, bl)]
                rec = runner.run("flexgen", f"flexgen {pct_str(pct)}{' cpu-attn' if cpu_attn else ''}"
                                 f"{what} {wl(w)} @{bl}", fg_cmd(w, pct, bg, cpu_attn, compress),
                                 {"workload": w, "budget": bl, "budget_gib": bg,
                                  "percent": list(pct), "cpu_attn": cpu_attn,
                                  "compress": compress},
                                 expect_s=similar_wall_s([r["fg_all_cpu"]] + r["fg_cands"]))
                results[(i, bl)]["fg_cands"].append(rec)
                if rec["status"] == "ok" and not cpu_attn and not args.flexgen_exhaustive:
                    done = True
        desc = ", ".join(pct_str(c) + (" cpu-attn" if a else "") for c, a in variants) or "none"
        return ("flexgen", f"flexgen best{what} {wl(w)} @{bl}: candidates [{desc}]", f)

    for i, w in enumerate(workloads):
        if not args.skip_ours and "auto" in policies:
            for bl, bg in budgets:
                plan.append(step_ours(i, w, "auto", bl, bg))
        if not args.skip_flexgen:
            splits = [step_fg_best(i, w, bl, bg) for bl, bg in budgets] \
                if args.flexgen_splits != "all-cpu" else []
            if args.flexgen_splits == "splits-first":
                plan += splits + [step_fg_all_cpu(i, w)]
            else:
                plan += [step_fg_all_cpu(i, w)] + splits
            # The compressed candidates after the uncompressed ones: a time limit then cuts
            # the extra configurations, not FlexGen's plain best.
            plan += [step_fg_best(i, w, bl, bg, m) for m in modes for bl, bg in budgets]
    if not args.skip_ours:
        for i, w in enumerate(workloads):
            for bl, bg in budgets:
                for pol in policies:
                    if pol != "auto":
                        plan.append(step_ours(i, w, pol, bl, bg))

    for w in workloads:
        log(f"workload {wl(w)}: FlexGen gpu batch {w['gbs']} x {w['ngb']}"
            + (f"; {w['note']}" if w["note"] else ""))
    for _, desc, _ in plan:
        log(f"plan: {desc}")
    if args.plan_only:
        return 0

    runner = Runner(args, out_dir)
    for _, _, f in plan:
        try:
            f(runner)
        except Exception as e:  # a bug here must not lose the other results
            log(f"driver error in a step: {e!r}")
    runner.logf.close()

    # Tables.
    def cell(rec, with_split=False):
        if rec is None:
            return "—"
        if rec["status"] == "skipped":
            return f"SKIPPED ({rec['reason']})"
        if rec["status"] != "ok":
            return f"FAILED ({rec['reason']})"
        return f"{rec['metrics']['total_tokens_per_s']:.1f}"

    def best_cell(best, tried):
        if args.skip_flexgen:
            return "—"
        if best:
            return f"{best['metrics']['total_tokens_per_s']:.1f} ({flexgen_config_label(best)})"
        return cell(tried[-1]) if tried else "—"

    def over(auto, best):
        if auto and auto["status"] == "ok" and best:
            return auto["metrics"]["total_tokens_per_s"] / best["metrics"]["total_tokens_per_s"]
        return None

    rows, detail_rows, summary = [], [], []
    for i, w in enumerate(workloads):
        for bl, bg in budgets:
            r = results[(i, bl)]
            fg_all = r["fg_all_cpu"]
            best, best_plain = flexgen_bests([fg_all] + r["fg_cands"])
            tried = [x for x in [fg_all] + r["fg_cands"] if x]
            fg_cells = [best_cell(best, tried)]
            if modes:
                fg_cells.append(best_cell(best_plain,
                                          [x for x in tried if not x.get("compress")]))
            ours_cells = []
            for pol in policies:
                rec = r["ours"].get(pol)
                c = cell(rec) if not args.skip_ours else "—"
                if rec and rec["status"] == "ok" and pol == "auto" and \
                        isinstance(rec["metrics"].get("act_fraction"), (int, float)):
                    c += f" (act {rec['metrics']['act_fraction']:.2f})"
                ours_cells.append(c)
            auto = r["ours"].get("auto")
            ratios = [over(auto, best)] + ([over(auto, best_plain)] if modes else [])
            rows.append([w["model"], str(w["batch"]), str(w["prompt"]), str(w["gen"]), bl,
                         cell(fg_all) if not args.skip_flexgen else "—", *fg_cells,
                         *ours_cells, *[f"{x:.2f}x" if x else "—" for x in ratios]])
            summary.append({"workload": w, "budget": bl, "budget_gib": bg,
                            "flexgen_all_cpu": fg_all, "flexgen_candidates": r["fg_cands"],
                            "flexgen_best": best,
                            "flexgen_best_config": flexgen_config_label(best) if best else None,
                            "flexgen_best_compress": best.get("compress", "") if best else None,
                            "flexgen_best_compressed": bool(best.get("compress")) if best else None,
                            "flexgen_best_uncompressed": best_plain,
                            "flexgen_best_uncompressed_config":
                                flexgen_config_label(best_plain) if best_plain else None,
                            "ours": r["ours"], "ours_weight_format": fmt,
                            "auto_over_flexgen_best": over(auto, best),
                            "auto_over_flexgen_best_uncompressed": over(auto, best_plain)})
            for pol in policies:
                rec = r["ours"].get(pol)
                if rec and rec["status"] == "ok":
                    m = rec["metrics"]

                    def g(k, fmt="{:.1f}", scale=1.0):
                        v = m.get(k)
                        return fmt.format(v * scale) if isinstance(v, (int, float)) else "—"
                    detail_rows.append([w["model"], str(w["prompt"]), str(w["gen"]), bl, pol,
                                        g("total_tokens_per_s"), g("prefill_tokens_per_s"),
                                        g("decode_tokens_per_s"), g("act_fraction", "{:.2f}"),
                                        g("h2d_bytes", "{:.1f}", 1 / 1e9),
                                        g("d2h_bytes", "{:.1f}", 1 / 1e9),
                                        g("h2d_gbps_achieved"), g("h2d_gbps_measured"),
                                        g("h2d_gbps_sustained"),
                                        g("predicted_step_ms"), g("measured_step_ms"),
                                        g("gpu_busy_fraction", "{:.2f}")])

    def md(header, body):
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)

    ours_fmt = f" ({fmt})" if fmt else ""
    header = ["model", "batch", "prompt", "gen", "GPU budget", "FlexGen all-CPU tok/s"] + \
        (["FlexGen best tok/s (config)", "FlexGen best uncompressed tok/s (split)"] if modes
         else ["FlexGen best tok/s (split)"]) + \
        [f"ours {p}{ours_fmt} tok/s" for p in policies] + \
        (["auto / FlexGen best", "auto / FlexGen best uncompressed"] if modes
         else ["auto / FlexGen best"])
    main_table = md(header, rows)
    detail_table = md(["model", "prompt", "gen", "budget", "policy", "total tok/s",
                       "prefill tok/s", "decode tok/s", "act frac", "H2D GB", "D2H GB",
                       "H2D GB/s ach.", "H2D GB/s meas.", "H2D GB/s sust.", "pred. step ms",
                       "meas. step ms", "GPU busy"], detail_rows) if detail_rows else ""
    elapsed = time.time() - runner.t0
    skipped = sum(1 for r in runner.records if r["status"] == "skipped")
    notes = [f"GPU: {gpu['name'] if gpu else 'unknown'}; {meta['date']}; "
             f"{len(runner.records)} runs in {elapsed:.0f} s."]
    if skipped:
        notes.append(f"{skipped} run(s) SKIPPED: the time limit of {args.time_limit_s:.0f} s "
                     f"(--time-limit-s) was reached.")
    for w in workloads:
        notes.append(f"{wl(w)}: FlexGen --gpu-batch-size {w['gbs']} --num-gpu-batches {w['ngb']}"
                     + (f"; {w['note']}" if w["note"] else ""))
    if not args.skip_flexgen:
        notes.append("FlexGen all-CPU = --percent 0 100 0 100 100 0 (pinned weights), run under "
                     f"the smallest budget's cap ({budgets[0][0]}) and shown for every budget. "
                     "Split = FlexGen --percent (w_gpu w_cpu cache_gpu cache_cpu act_gpu act_cpu).")
        if modes:
            notes.append("FlexGen best = the best of its uncompressed and its 4-bit runs ("
                         + ", ".join(f"{compress_label(m)}: "
                                     + " ".join(fgr.compress_flags(m)) for m in modes)
                         + "; groups of 64, fp16 scale and min per group); the config names "
                         "the compression where the winner used it. FlexGen best uncompressed "
                         "= its best fp16 run (docs/FLEXGEN.md, section 4).")
        if args.flexgen_cut_gen_len:
            notes.append(f"FlexGen ran --cut-gen-len {args.flexgen_cut_gen_len}: its decode time "
                         "is projected to the full generation length.")
    notes.append(f"ours: --weight-format {fmt}." if fmt else
                 "ours: the binary's default weight format (no --weight-format).")
    notes.append("tok/s = generated tokens / (prefill + decode time) for both systems.")
    md_text = ("## FlexGen vs HybridServe\n\n" + main_table + "\n\n" +
               "\n".join(f"- {n}" for n in notes) + "\n" +
               (f"\n### HybridServe details\n\n{detail_table}\n" if detail_table else ""))
    with open(os.path.join(out_dir, "bench_compare.md"), "w") as f:
        f.write(md_text)
    with open(os.path.join(out_dir, "bench_compare.json"), "w") as f:
        json.dump({"meta": meta, "workloads": workloads, "results": summary,
                   "runs": runner.records, "elapsed_s": elapsed}, f, indent=1, default=str)
    shutil.rmtree(runner.work, ignore_errors=True)

    if detail_table:
        print("\n### HybridServe details\n\n" + detail_table + "\n", flush=True)
    print("\n## FlexGen vs HybridServe\n\n" + main_table + "\n", flush=True)
    print("\n".join(f"- {n}" for n in notes), flush=True)
    print(f"(JSON, markdown and logs in {out_dir})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
