#!/usr/bin/env python3
"""Does a GEMM run slower after seconds of back-to-back work than in the short bursts a
cost-model profile times? A measurement program for the GPU machine (needs torch, which uses
cuBLAS as our backend does), not a test.

Times one GEMM out[rows, n] = x[rows, k] w[n, k]^T in the given dtype three ways:
  1. bursts: after an idle pause, short bursts (--burst-ms of back-to-back runs, timed by CUDA
     events) separated by idle gaps, as plan/profile.cpp times its curves;
  2. sustained: back to back for --seconds, the rate of each --window-ms window;
  3. sustained with pinned host-to-device copies running on a second stream for the last
     --copy-seconds (the engine streams weights and caches while it computes).
Meanwhile nvidia-smi samples the SM clock, power and temperature every 100 ms, so a slowdown
can be laid beside the clock. Prints one summary line per phase and window group; --json
writes everything.

  python3 tools/gemm_sustained.py --rows 16384 --k 5120 --n 5120 --seconds 40 --json OUT.json
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

SMI_FIELDS = ["timestamp", "clocks.sm", "power.draw", "temperature.gpu", "clocks_event_reasons.active"]


def start_smi(path):
    fields = list(SMI_FIELDS)
    probe = subprocess.run(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader"],
                           capture_output=True, text=True)
    if probe.returncode != 0:  # older drivers name the last field clocks_throttle_reasons
        fields[-1] = "clocks_throttle_reasons.active"
    out = open(path, "w")
    p = subprocess.Popen(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits",
                          "-lms", "100"], stdout=out, stderr=subprocess.DEVNULL)
    return p, out, fields


def read_smi(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = [s.strip() for s in line.split(",")]
            if len(parts) < 4:
                continue
            try:
                t = time.mktime(time.strptime(parts[0].split(".")[0], "%Y/%m/%d %H:%M:%S"))
                frac = float("0." + parts[0].split(".")[1]) if "." in parts[0] else 0.0
                rows.append({"t": t + frac, "sm_mhz": float(parts[1]), "power_w": float(parts[2]),
                             "temp_c": float(parts[3]), "reasons": parts[4] if len(parts) > 4 else ""})
            except ValueError:
                continue
    return rows


def smi_between(rows, t0, t1):
    sel = [r for r in rows if t0 <= r["t"] < t1]
    if not sel:
        return {}
    return {"sm_mhz": statistics.median(r["sm_mhz"] for r in sel),
            "power_w": statistics.median(r["power_w"] for r in sel),
            "temp_c": max(r["temp_c"] for r in sel),
            "reasons": sorted({r["reasons"] for r in sel})}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=16384)
    ap.add_argument("--k", type=int, default=5120)
    ap.add_argument("--n", type=int, default=5120)
    ap.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    ap.add_argument("--bursts", type=int, default=10)
    ap.add_argument("--burst-ms", type=float, default=10.0)
    ap.add_argument("--gap-ms", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--copy-seconds", type=float, default=10.0)
    ap.add_argument("--window-ms", type=float, default=500.0)
    ap.add_argument("--json", help="write all timings and clock samples here")
    args = ap.parse_args()

    import torch
    dt = {"fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(1)
    x = (torch.rand(args.rows, args.k, device=dev, generator=g, dtype=torch.float32) - 0.5).to(dt)
    w = (torch.rand(args.n, args.k, device=dev, generator=g, dtype=torch.float32) - 0.5).to(dt) / 16
    out = torch.empty(args.rows, args.n, device=dev, dtype=dt)
    flop = 2.0 * args.rows * args.k * args.n

    def run():
        torch.matmul(x, w.t(), out=out)

    def timed(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            run()
        b.record()
        b.synchronize()
        return a.elapsed_time(b)

    run()
    torch.cuda.synchronize()
    one = timed(3) / 3
    reps_burst = max(1, round(args.burst_ms / one))
    reps_window = max(1, round(args.window_ms / one))
    smi_path = (args.json or "/tmp/gemm_sustained") + ".smi.csv"
    smi, smi_file, fields = start_smi(smi_path)
    print(f"[gemm] {torch.cuda.get_device_name()} {args.dtype} rows {args.rows} k {args.k} n {args.n}: "
          f"{one:.3f} ms a run; smi fields {fields}", flush=True)
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "args": vars(args),
           "ms_per_run_first": one, "phases": {}}
    try:
        time.sleep(3)  # idle first: the bursts start from a cool, idle GPU as a profile often does
        bursts = []
        for _ in range(args.bursts):
            t0 = time.time()
            ms = timed(reps_burst)
            bursts.append({"t0": t0, "t1": time.time(), "tflops": flop * reps_burst / ms / 1e9})
            time.sleep(args.gap_ms / 1e3)
        res["phases"]["bursts"] = bursts
        windows = []
        copy_from = args.seconds - args.copy_seconds
        start = time.time()
        host = torch.empty(256 << 20, dtype=torch.uint8).pin_memory()
        devbuf = torch.empty(256 << 20, dtype=torch.uint8, device=dev)
        side = torch.cuda.Stream()
        copies = 0
        while time.time() - start < args.seconds:
            copying = time.time() - start >= copy_from and args.copy_seconds > 0
            if copying:
                with torch.cuda.stream(side):
                    for _ in range(4):
                        devbuf.copy_(host, non_blocking=True)
                        copies += 1
            t0 = time.time()
            ms = timed(reps_window)
            windows.append({"t0": t0, "t1": time.time(), "copying": copying,
                            "tflops": flop * reps_window / ms / 1e9})
            side.synchronize()
        res["phases"]["sustained"] = windows
        res["copies_256mib"] = copies
    finally:
        time.sleep(0.3)
        smi.terminate()
        smi.wait()
        smi_file.close()
    rows = read_smi(smi_path)
    res["smi"] = rows

    def line(name, items):
        tf = [i["tflops"] for i in items]
        s = smi_between(rows, items[0]["t0"], items[-1]["t1"])
        print(f"[gemm] {name:<28} median {statistics.median(tf):7.1f} TFLOP/s (min {min(tf):.1f}, max {max(tf):.1f})"
              f"  sm {s.get('sm_mhz', 0):.0f} MHz  {s.get('power_w', 0):.0f} W  {s.get('temp_c', 0):.0f} C"
              f"  {s.get('reasons', '')}", flush=True)
        return statistics.median(tf)

    line("bursts", bursts)
    alone = [wd for wd in windows if not wd["copying"]]
    edges = [0, 1, 2, 5, 10, 20, 40, 80, 160]
    t_start = windows[0]["t0"]
    for a, b in zip(edges, edges[1:]):
        sel = [wd for wd in alone if a <= wd["t0"] - t_start < b]
        if sel:
            line(f"sustained {a}-{b} s", sel)
    with_copies = [wd for wd in windows if wd["copying"]]
    if with_copies:
        line("sustained + H2D copies", with_copies)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
