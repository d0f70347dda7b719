#!/usr/bin/env python3
"""Independent readers and checks for the system tests of `hybridserve run`.

Reads results files (.jsonl with the json module, .h5 with h5py) and journals (the byte layout
of docs/OUTPUT.md, checksums with zlib.crc32) without any HybridServe code, so the tests compare
the binary's output with what the documented formats say, not with the code's own reading.

    hs_results.py make-dataset OUT --goldens G.json [G2.json] --n N [--long-every K] [--seed S]
                  [--with-goldens] [--bad-line]   (g<i>: HF golden cases of the first file,
                  max_new_tokens 12; a malformed line in the middle)
    hs_results.py same A B               results A and B: same ids, status, tokens, finish reason
    hs_results.py once RESULTS DATASET --errors N   every dataset line has exactly one result,
                                         N of them errors
    hs_results.py goldens RESULTS G.json [--prefix g]   requests <prefix><i> produced the HF
                                         greedy tokens of case i
    hs_results.py balance RESULTS [--min-ranks K]   units were handed out on demand (see below)
    hs_results.py journal-count JOURNAL  prints "<unit records> <requests>" (valid records only)
    hs_results.py journal-ids JOURNAL    prints the ids of journaled requests, one per line
    hs_results.py wait-journal JOURNAL --requests N [--pid P] [--timeout S]
    hs_results.py wait-file PATH [--pid P] [--timeout S]   until PATH exists
    hs_results.py wait-gone PID [--timeout S]   until process PID has ended (fails if it has not)
    hs_results.py count RESULTS FIELD VALUE   prints how many rows have FIELD == VALUE
    hs_results.py subset RESULTS JOURNAL every result in RESULTS is in JOURNAL (a checkpoint)
    hs_results.py lost JOURNAL           units of the last session handed out without results
    hs_results.py snapshot RESULTS JOURNAL OUT   checks at a checkpoint; rows to OUT (JSON)
    hs_results.py wait-dispatch JOURNAL --rank R --units K [--timeout S]
    hs_results.py not-recomputed RESULTS IDS SESSION   ids in file IDS have session < SESSION
    hs_results.py h5check RESULTS.h5     every dataset of the schema readable and consistent
    hs_results.py random-ids OUT --n N --vocab V --min-len A --max-len B [--seed S]
                  N requests q<i> of A..B random token ids in [3, V)
    hs_results.py make-tokenizer SRC_DIR OUT_DIR --vocab N   SRC's tokenizer cut to ids < N
                  (vocabulary, merges and added tokens), so it fits a tiny model's vocabulary
"""
import argparse
import json
import os
import random
import struct
import sys
import time
import zlib

MAGIC = b"HSJRNL1\n"
RECORD = b"HSRC"
TYPE_SESSION = 2
TYPE_UNIT = 3
TYPE_DISPATCH = 4


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def read_journal(path):
    """Returns (records, valid_bytes, torn) with records = [(type, payload_dict)]."""
    data = open(path, "rb").read()
    if not data.startswith(MAGIC):
        return [], 0, True
    off, out = len(MAGIC), []
    while off < len(data):
        if len(data) - off < 16 or data[off:off + 4] != RECORD:
            return out, off, True
        typ, n = struct.unpack_from("<IQ", data, off + 4)
        end = off + 16 + n + 4
        if end > len(data):
            return out, off, True
        payload = data[off + 16:off + 16 + n]
        (crc,) = struct.unpack_from("<I", data, off + 16 + n)
        if crc != zlib.crc32(data[off + 4:off + 16] + payload):
            return out, off, True
        out.append((typ, json.loads(payload.decode("utf-8"))))
        off = end
    return out, off, False


def journal_ids(path):
    ids = []
    for typ, rec in read_journal(path)[0]:
        if typ == TYPE_UNIT:
            ids += [r["id"] for r in rec["results"]]
    return ids


def load(path):
    """Rows as dicts, in file order."""
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    import h5py
    with h5py.File(path, "r") as f:
        g = f["requests"]
        strings = lambda d: h5py.check_string_dtype(d.dtype) is not None
        col = {k: (g[k].asstr()[:] if strings(g[k]) else g[k][:]) for k in g.keys()}
        rows = []
        for i, (id_, st) in enumerate(zip(col["id"], col["status"])):
            if st == "":  # not done yet (docs/OUTPUT.md)
                continue
            r = {"id": id_ or None, "status": st, "line": int(col["line"][i]),
                 "prompt_len": int(col["prompt_len"][i]),
                 "output_len": int(col["output_len"][i]), "rank": int(col["rank"][i]),
                 "unit": int(col["unit"][i]), "session": int(col["session"][i]),
                 "start_ms": float(col["start_ms"][i]), "end_ms": float(col["end_ms"][i])}
            if st == "ok":
                r["output_ids"] = [int(x) for x in col["output_ids"][i]]
                r["finish_reason"] = col["finish_reason"][i]
                if "text" in col:
                    r["text"] = col["text"][i]
            else:
                r["error"] = col["error"][i]
            if r["prompt_len"] != len(col["prompt_ids"][i]):
                fail(f"{path}: prompt_len of row {i} disagrees with prompt_ids")
            if r["output_len"] != len(col["output_ids"][i]):
                fail(f"{path}: output_len of row {i} disagrees with output_ids")
            rows.append(r)
        return rows


def key(r):
    return (r.get("id"), r["line"], r["status"], r.get("output_ids"), r.get("finish_reason"),
            r.get("text"), r.get("error"))


def cmd_make_dataset(a):
    rng = random.Random(a.seed)
    cases = []
    for g in a.goldens:
        cases += [c["prompt"] for c in json.load(open(g))["cases"]]
    lines = []
    if a.with_goldens:
        for i, c in enumerate(json.load(open(a.goldens[0]))["cases"]):
            lines.append(json.dumps({"id": f"g{i}", "input_ids": c["prompt"], "max_new_tokens": 12}))
    for i in range(a.n):
        if a.bad_line and i == a.n // 2:
            lines.append('{"id": "broken", "input_ids": [1, 2,')
        long = a.long_every and i % a.long_every == 0
        p = max(cases, key=len) if long else rng.choice([c for c in cases if len(c) <= 9])
        m = rng.randint(40, 60) if long else rng.randint(2, 6)
        lines.append(json.dumps({"id": f"r{i:05d}", "input_ids": p, "max_new_tokens": m}))
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


def cmd_random_ids(a):
    rng = random.Random(a.seed)
    with open(a.out, "w") as f:
        for i in range(a.n):
            ids = [rng.randrange(3, a.vocab) for _ in range(rng.randrange(a.min_len, a.max_len + 1))]
            f.write(json.dumps({"id": f"q{i}", "input_ids": ids}) + "\n")


def cmd_same(a):
    x, y = load(a.a), load(a.b)
    if len(x) != len(y):
        fail(f"{a.a} has {len(x)} rows, {a.b} has {len(y)}")
    for i, (r, s) in enumerate(zip(x, y)):
        if key(r) != key(s):
            fail(f"row {i} differs:\n  {a.a}: {key(r)}\n  {a.b}: {key(s)}")
    print(f"same: {len(x)} rows")


def cmd_once(a):
    rows = load(a.results)
    want = [i + 1 for i, line in enumerate(open(a.dataset)) if line.strip()]
    got = [r["line"] for r in rows]
    if got != want:
        missing = sorted(set(want) - set(got))[:10]
        dup = sorted({l for l in got if got.count(l) > 1})[:10]
        fail(f"{a.results}: {len(got)} results for {len(want)} lines; missing {missing}, "
             f"duplicated {dup}, or out of input order")
    ids = [r["id"] for r in rows if r["id"] is not None]
    if len(ids) != len(set(ids)):
        fail(f"{a.results}: an id appears twice")
    errors = [r for r in rows if r["status"] != "ok"]
    if len(errors) != a.errors:
        fail(f"{a.results}: {len(errors)} errors, expected {a.errors}: {errors[:3]}")
    print(f"once: {len(rows)} lines, each exactly once, in input order, {a.errors} errors")


def cmd_goldens(a):
    g = json.load(open(a.golden))
    rows = {r["id"]: r for r in load(a.results)}
    for i, c in enumerate(g["cases"]):
        r = rows.get(f"{a.prefix}{i}")
        if r is None:
            fail(f"no result for {a.prefix}{i}")
        if r.get("output_ids") != c["greedy"]:
            fail(f"{a.prefix}{i}: got {r.get('output_ids')}, HF greedy {c['greedy']}")
    print(f"goldens: {len(g['cases'])} cases equal HF greedy")


def cmd_balance(a):
    """On-demand hand-out, from the per-request rank/unit/start/end columns (coordinator clock):
    (a) a rank holds at most one unit at a time: on each rank, a unit starts (is handed out)
        no earlier than the previous one ended (its results came back);
    (b) no unit is handed out after any rank received its last 'stop': every unit's start is
        <= the earliest time a rank finished its last unit.
    Together: no rank goes idle for good while another still has a unit waiting for it. A static
    split fails (a) (all of a rank's units handed out at once) or (b) (a rank that finishes its
    share early idles while others work through theirs)."""
    rows = [r for r in load(a.results) if r.get("rank", -1) >= 0]
    units = {}
    for r in rows:
        u = units.setdefault((r["session"], r["unit"]), (r["rank"], r["start_ms"], r["end_ms"]))
        if u != (r["rank"], r["start_ms"], r["end_ms"]):
            fail(f"unit {r['unit']}: requests disagree on rank/start/end")
    by_rank = {}
    for (rank, s, e) in units.values():
        by_rank.setdefault(rank, []).append((s, e))
    for rank, us in by_rank.items():
        us.sort()
        for (s0, e0), (s1, e1) in zip(us, us[1:]):
            if s1 < e0:
                fail(f"rank {rank} held two units at once ({s0}-{e0} and {s1}-{e1})")
    last_start = max(s for (_, s, _) in units.values())
    first_finish = min(max(e for _, e in us) for us in by_rank.values())
    if last_start > first_finish:
        fail(f"a unit was handed out {last_start - first_finish:.1f} ms after a rank finished "
             "its last one: that rank idled while work was waiting")
    if len(by_rank) < a.min_ranks:
        fail(f"only ranks {sorted(by_rank)} computed; expected at least {a.min_ranks}")
    counts = {r: len(u) for r, u in sorted(by_rank.items())}
    print(f"balance: {len(units)} units on ranks {counts}; last hand-out "
          f"{first_finish - last_start:.1f} ms before the first rank finished")


def cmd_journal_count(a):
    recs = read_journal(a.journal)[0]
    units = [r for t, r in recs if t == TYPE_UNIT]
    print(len(units), sum(len(u["results"]) for u in units))


def cmd_journal_ids(a):
    for i in journal_ids(a.journal):
        print(i)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def poll(ready, timeout, what, pid=0):
    """Polls an observable: returns once ready() is true; fails if process pid (0: none) ends
    first or `timeout` seconds pass. The 20 ms interval only sets how late the moment is seen."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if ready():
            return
        if pid and not alive(pid):
            fail(f"process {pid} ended before {what}")
        time.sleep(0.02)
    fail(f"{what}: not within {timeout} s")


def cmd_wait_journal(a):
    # Polling an observable (the journal) is how the test finds its kill point.
    n = [0]
    def reached():
        n[0] = len(journal_ids(a.journal)) if os.path.exists(a.journal) else 0
        return n[0] >= a.requests
    poll(reached, a.timeout, f"the journal reached {a.requests} requests", a.pid)
    print(n[0])


def cmd_wait_file(a):
    # A mark a process under test leaves (and, with --pid, that it is still alive).
    poll(lambda: os.path.exists(a.path), a.timeout, f"{a.path} appeared", a.pid)


def cmd_wait_gone(a):
    # Bounds how long a process that should end may take: it fails (the caller's "hang") if the
    # process is still there after --timeout seconds.
    poll(lambda: not alive(a.pid), a.timeout, f"process {a.pid} ended")


def cmd_snapshot(a):
    """What a reader sees at a checkpoint (run from --on-checkpoint): the file is consistent
    (h5check for .h5), every result in it is journaled, and its rows go to OUT as JSON."""
    if a.results.endswith(".h5"):
        cmd_h5check(argparse.Namespace(results=a.results))
    cmd_subset(argparse.Namespace(results=a.results, journal=a.journal))
    rows = {r["line"]: [r["id"], r["status"], r.get("output_ids")] for r in load(a.results)}
    json.dump({"rows": rows, "bytes": open(a.results, "rb").read().decode("utf-8", "replace")
               if a.results.endswith(".jsonl") else ""}, open(a.out, "w"))


def cmd_lost(a):
    """Units the journal's last session handed out (dispatch records) without a unit record:
    one line "session unit rank host first_line last_line" each."""
    recs = read_journal(a.journal)[0]
    last = max(r["session"] for t, r in recs if t == TYPE_SESSION)
    out = {}
    for t, r in recs:
        if t == TYPE_DISPATCH and r["session"] == last:
            out[(r["session"], r["unit"])] = r
        elif t == TYPE_UNIT:
            out.pop((r["session"], r["unit"]), None)
    for (s, u), r in sorted(out.items()):
        print(s, u, r["rank"], r["host"], r["first_line"], r["last_line"])


def cmd_wait_dispatch(a):
    # Polling the journal is how the test finds a point where the rank holds work.
    def handed():
        return os.path.exists(a.journal) and sum(
            1 for t, r in read_journal(a.journal)[0]
            if t == TYPE_DISPATCH and r["rank"] == a.rank) >= a.units
    poll(handed, a.timeout, f"rank {a.rank} was handed {a.units} units")


def cmd_subset(a):
    have = set(journal_ids(a.journal))
    rows = [r for r in load(a.results) if r.get("rank", -1) >= 0]
    extra = [r["id"] for r in rows if r["id"] not in have]
    if extra:
        fail(f"{a.results} holds results the journal does not: {extra[:5]}")
    print(f"subset: {len(rows)} computed results, all in the journal")


def cmd_not_recomputed(a):
    ids = {l.strip() for l in open(a.ids) if l.strip()}
    rows = {r["id"]: r for r in load(a.results)}
    bad = [i for i in ids if rows[i]["session"] >= a.session]
    if bad:
        fail(f"{len(bad)} requests finished before session {a.session} were computed again: "
             f"{sorted(bad)[:5]}")
    print(f"not recomputed: {len(ids)} requests kept from earlier sessions")


def cmd_make_tokenizer(a):
    t = json.load(open(os.path.join(a.src, "tokenizer.json"), encoding="utf-8"))
    vocab = {k: v for k, v in t["model"]["vocab"].items() if v < a.vocab}
    def keep(m):
        x, y = m.split(" ", 1) if isinstance(m, str) else m
        return x in vocab and y in vocab and (x + y) in vocab
    t["model"]["vocab"] = vocab
    t["model"]["merges"] = [m for m in t["model"]["merges"] if keep(m)]
    t["added_tokens"] = [x for x in t["added_tokens"] if x["id"] < a.vocab]
    os.makedirs(a.out, exist_ok=True)
    json.dump(t, open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8"),
              ensure_ascii=False)
    cfg = os.path.join(a.src, "tokenizer_config.json")
    if os.path.exists(cfg):
        open(os.path.join(a.out, "tokenizer_config.json"), "w").write(open(cfg).read())


def cmd_count(a):
    print(sum(1 for r in load(a.results) if str(r.get(a.field)) == a.value))


def cmd_h5check(a):
    import h5py
    with h5py.File(a.results, "r") as f:
        g = f["requests"]
        total, n = g.attrs["total"], g.attrs["count"]
        for name in ["id", "status", "error", "line", "prompt_len", "output_len", "finish_reason",
                     "start_ms", "end_ms", "compute_ms", "rank", "unit", "session",
                     "prompt_ids", "output_ids"]:
            if g[name].shape != (total,):
                fail(f"/requests/{name} has shape {g[name].shape}, total is {total}")
        # Every column reads whole: a kill inside a checkpoint's write can leave one column's
        # strings pointing at heap blocks that never reached the disk while others read.
        for grp in (g, f["trace"]):
            for name in grp:
                grp[name][:]
        status = g["status"].asstr()[:]
        if (status != "").sum() != n:
            fail(f"/requests count is {n}, but {(status != '').sum()} rows have a status")
        for what in ["prompt", "output"]:
            lens = [len(x) for x in g[f"{what}_ids"][:]]
            if (g[f"{what}_len"][:] != lens).any():
                fail(f"/requests/{what}_len disagrees with {what}_ids")
        t = f["trace"]
        kinds = list(t["kind_names"].asstr()[:])
        for name in ["step", "layer", "mini_batch", "kind", "bytes", "start_ms", "end_ms",
                     "stream", "rank", "session", "unit"]:
            if t[name].shape != (t.attrs["count"],):
                fail(f"/trace/{name} has the wrong shape")
        m = f["meta"].attrs
        for name in ["command_line", "job_config", "model_config", "hardware", "version",
                     "start_time", "end_time", "fingerprint"]:
            if not isinstance(m[name], str):
                fail(f"/meta attribute {name} missing or not a string")
        json.loads(m["model_config"]), json.loads(m["hardware"]), json.loads(m["fingerprint"])
        print(f"h5check: {n} requests, {t.attrs['count']} trace rows, kinds {len(kinds)}, "
              f"complete={m['complete']}, sessions={m['sessions']}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("make-dataset"); s.add_argument("out"); s.add_argument("--goldens", nargs="+")
    s.add_argument("--n", type=int); s.add_argument("--long-every", type=int, default=0)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--with-goldens", action="store_true"); s.add_argument("--bad-line", action="store_true")
    s = sub.add_parser("random-ids"); s.add_argument("out"); s.add_argument("--n", type=int)
    s.add_argument("--vocab", type=int); s.add_argument("--min-len", type=int)
    s.add_argument("--max-len", type=int); s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("same"); s.add_argument("a"); s.add_argument("b")
    s = sub.add_parser("once"); s.add_argument("results"); s.add_argument("dataset")
    s.add_argument("--errors", type=int, required=True)
    s = sub.add_parser("goldens"); s.add_argument("results"); s.add_argument("golden")
    s.add_argument("--prefix", default="g")
    s = sub.add_parser("balance"); s.add_argument("results")
    s.add_argument("--min-ranks", type=int, default=1)
    s = sub.add_parser("journal-count"); s.add_argument("journal")
    s = sub.add_parser("journal-ids"); s.add_argument("journal")
    s = sub.add_parser("wait-journal"); s.add_argument("journal")
    s.add_argument("--requests", type=int); s.add_argument("--pid", type=int, default=0)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("wait-file"); s.add_argument("path")
    s.add_argument("--pid", type=int, default=0); s.add_argument("--timeout", type=float, default=300)
    s = sub.add_parser("wait-gone"); s.add_argument("pid", type=int)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("subset"); s.add_argument("results"); s.add_argument("journal")
    s = sub.add_parser("lost"); s.add_argument("journal")
    s = sub.add_parser("snapshot"); s.add_argument("results"); s.add_argument("journal")
    s.add_argument("out")
    s = sub.add_parser("wait-dispatch"); s.add_argument("journal")
    s.add_argument("--rank", type=int); s.add_argument("--units", type=int)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("not-recomputed"); s.add_argument("results"); s.add_argument("ids")
    s.add_argument("session", type=int)
    s = sub.add_parser("h5check"); s.add_argument("results")
    s = sub.add_parser("make-tokenizer"); s.add_argument("src"); s.add_argument("out")
    s.add_argument("--vocab", type=int, required=True)
    s = sub.add_parser("count"); s.add_argument("results"); s.add_argument("field")
    s.add_argument("value")
    a = p.parse_args()
    globals()["cmd_" + a.cmd.replace("-", "_")](a)


if __name__ == "__main__":
    main()
