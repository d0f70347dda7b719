#!/usr/bin/env python3
"""Writes a synthetic trace file of any size, to time `hybridserve report` on traces larger
than a test can make: /trace in the schema of docs/OUTPUT.md (as `bench --trace-out x.h5`
writes it, without /requests) and a /meta plan, filled with the event pattern of an offloaded
decode step (per layer: weights, then per mini-batch K/V and activation loads, recompute,
attention, projections, FFN, write-back), back to back on each rank's clock.

    tools/make_synthetic_trace.py OUT.h5 --rows N [--ranks R] [--layers L] [--mini-batches M]

Needs h5py and numpy (Debian's python3-h5py: run it with "$(bash tools/h5py_python.sh)").
"""
import argparse
import json

import h5py
import numpy as np

KINDS = ["weights", "kv", "act", "recompute", "attention", "projections", "ffn", "write-back",
         "sampling", "embed", "expand"]
STREAMS = ["compute", "weights", "cache_in", "cache_out", "cache_dev", "expand"]
# One mini-batch's events of a layer: kind, stream, bytes, ms.
PER_MINI_BATCH = [(1, 2, 20_000_000, 2.0), (2, 2, 5_000_000, 0.5), (3, 0, 0, 0.6),
                  (4, 0, 0, 0.8), (5, 0, 0, 1.0), (6, 0, 0, 2.0), (7, 3, 1_000_000, 0.1)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--layers", type=int, default=40)
    p.add_argument("--mini-batches", type=int, default=4)
    a = p.parse_args()

    # One step of one rank, as columns; tiled over steps and ranks up to --rows.
    kind, stream, nbytes, ms, layer, mb = [], [], [], [], [], []
    for l in range(a.layers):
        kind.append(0), stream.append(1), nbytes.append(250_000_000), ms.append(25.0)
        layer.append(l), mb.append(-1)
        for m in range(a.mini_batches):
            for k, s, b, t in PER_MINI_BATCH:
                kind.append(k), stream.append(s), nbytes.append(b), ms.append(t)
                layer.append(l), mb.append(m)
    per_step = len(kind)
    ms = np.array(ms)
    # Events of a stream follow each other; streams overlap: each stream keeps its own clock
    # within the step, and a step starts when the slowest stream of the one before has ended.
    start = np.zeros(per_step)
    clock = {}
    for i, s in enumerate(stream):
        start[i] = clock.get(s, 0.0)
        clock[s] = start[i] + ms[i]
    step_ms = max(clock.values())

    chunk = 1 << 20
    with h5py.File(a.out, "w") as f:
        t = f.create_group("trace")
        t.create_dataset("kind_names", data=np.array(KINDS, dtype=h5py.string_dtype()))
        t.create_dataset("stream_names", data=np.array(STREAMS, dtype=h5py.string_dtype()))
        kind_t = h5py.enum_dtype({k: i for i, k in enumerate(KINDS)}, basetype="u1")
        cols = {}
        for name, dtype in [("step", "<i8"), ("layer", "<i4"), ("mini_batch", "<i4"),
                            ("kind", kind_t), ("bytes", "<i8"), ("start_ms", "<f8"),
                            ("end_ms", "<f8"), ("stream", "<i4"), ("rank", "<i4"),
                            ("session", "<i4"), ("unit", "<i8")]:
            cols[name] = t.create_dataset(name, shape=(a.rows,), dtype=dtype,
                                          chunks=(1 << 14,))
        rows_per_rank = -(-a.rows // a.ranks)
        for first in range(0, a.rows, chunk):
            i = np.arange(first, min(a.rows, first + chunk))
            rank = i // rows_per_rank
            j = i - rank * rows_per_rank  # row within the rank
            step, e = j // per_step, j % per_step
            cols["step"][i[0]:i[-1] + 1] = step
            cols["layer"][i[0]:i[-1] + 1] = np.array(layer)[e]
            cols["mini_batch"][i[0]:i[-1] + 1] = np.array(mb)[e]
            cols["kind"][i[0]:i[-1] + 1] = np.array(kind, dtype="u1")[e]
            cols["bytes"][i[0]:i[-1] + 1] = np.array(nbytes)[e]
            s0 = step * step_ms + start[e]
            cols["start_ms"][i[0]:i[-1] + 1] = s0
            cols["end_ms"][i[0]:i[-1] + 1] = s0 + ms[e]
            cols["stream"][i[0]:i[-1] + 1] = np.array(stream)[e]
            cols["rank"][i[0]:i[-1] + 1] = rank
            cols["session"][i[0]:i[-1] + 1] = 0
            cols["unit"][i[0]:i[-1] + 1] = 0
        t.attrs["count"] = np.int64(a.rows)
        m = f.create_group("meta")
        m.attrs["plan"] = json.dumps({"policy": "hybrid", "predicted_step_ms": step_ms * 0.9,
                                      "constants": {"h2d_gbps": 25.0}})
        m.attrs["model_shape"] = f"synthetic ({a.layers} layers)"
    print(f"{a.out}: {a.rows} rows, {per_step} per step, {a.ranks} rank(s)")


if __name__ == "__main__":
    main()
