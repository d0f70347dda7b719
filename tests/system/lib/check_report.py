#!/usr/bin/env python3
"""Independent checks of `hybridserve report`'s outputs for tests/system/report_test.sh.

The trace is read with h5py (or the csv module) as docs/OUTPUT.md documents it, never through
HybridServe's code; the timeline JSON with the json module; the HTML page in headless Chromium.

    check_report.py perfetto TRACE.json SOURCE   SOURCE: the results/bench .h5 or bench .csv
        The Chrome trace-event file against the format's rules as Perfetto's JSON importer
        applies them (every event's fields and types; on each thread, complete events nest or
        follow each other, never overlap in part), and against SOURCE: one complete event per
        trace row (args.row), on the process of its rank (and session) and the thread of its
        stream, at its row's times to the nanosecond; one step instant per (rank, session,
        unit, step). Where a trace_processor_shell is found ($HS_TRACE_PROCESSOR, PATH, or
        the `perfetto` package's download cache), it loads the file and a query counts the
        slices per process and thread, which must equal SOURCE's rows per rank and stream.
    check_report.py html REPORT.html OUT_DIR [--sections a,b,...] [--kinds k1,k2]
        Chromium (headless, in a network namespace without network where unshare works)
        renders the page: the DOM has every section and an SVG chart in each, nothing that
        loads from elsewhere (no script, link, img, iframe; no src/href/url() to a URL), the
        net log shows no request by the page, and a screenshot (OUT_DIR/report.png) shows the
        colors of the given trace kinds.
    check_report.py decode-step REPORT_TEXT BENCH_JSON
        The report's measured decode step equals bench --json's measured_step_ms.
"""
import argparse
import collections
import csv
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# --- the source trace ---------------------------------------------------------------------

def read_source(path):
    """Rows as dicts of rank, session, unit, step, stream (name), start_ms, end_ms, bytes."""
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            rows = []
            names = ["compute", "weights", "cache_in", "cache_out", "cache_dev", "expand"]
            for r in csv.DictReader(f):
                rows.append({"rank": int(r.get("rank", 0)), "session": int(r.get("session", 0)),
                             "unit": int(r.get("unit", 0)), "step": int(r["step"]),
                             "stream": names[int(r["stream"])], "kind": r["kind"],
                             "start_ms": float(r["start_ms"]), "end_ms": float(r["end_ms"]),
                             "bytes": int(r["bytes"])})
            return rows
    import h5py
    with h5py.File(path, "r") as f:
        t = f["trace"]
        n = int(t.attrs["count"])
        streams = list(t["stream_names"].asstr()[:])
        kinds = list(t["kind_names"].asstr()[:])
        cols = {k: t[k][:n] for k in ("rank", "session", "unit", "step", "stream", "kind",
                                     "start_ms", "end_ms", "bytes")}
    return [{"rank": int(cols["rank"][i]), "session": int(cols["session"][i]),
             "unit": int(cols["unit"][i]), "step": int(cols["step"][i]),
             "stream": streams[int(cols["stream"][i])], "kind": kinds[int(cols["kind"][i])],
             "start_ms": float(cols["start_ms"][i]), "end_ms": float(cols["end_ms"][i]),
             "bytes": int(cols["bytes"][i])} for i in range(n)]


# --- Perfetto / Chrome trace-event JSON -------------------------------------------------------

def ns(us):
    """A JSON microsecond value as integer nanoseconds (Perfetto rounds the same way)."""
    return int(round(us * 1000))


def check_event_fields(e, i):
    where = f"traceEvents[{i}]"
    if not isinstance(e, dict):
        fail(f"{where} is not an object")
    ph = e.get("ph")
    if ph not in ("X", "i", "C", "M"):
        fail(f"{where}: phase {ph!r} (expected X, i, C or M)")
    if not isinstance(e.get("name"), str) or not e["name"]:
        fail(f"{where}: no name")
    if not isinstance(e.get("pid"), int):
        fail(f"{where}: pid is not an integer")
    if ph in ("X", "i", "C") and not isinstance(e.get("ts"), (int, float)):
        fail(f"{where}: ts is not a number")
    if ph == "X":
        if not isinstance(e.get("tid"), int):
            fail(f"{where}: tid is not an integer")
        if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0:
            fail(f"{where}: dur is not a non-negative number")
        if not isinstance(e.get("args"), dict):
            fail(f"{where}: no args")
        for key in ("step", "layer", "mini_batch", "bytes", "row", "unit"):
            if not isinstance(e["args"].get(key), int):
                fail(f"{where}: args.{key} is not an integer")
        if not isinstance(e["args"].get("gbps"), (int, float)):
            fail(f"{where}: args.gbps is not a number")
    if ph == "i" and e.get("s") not in ("g", "p", "t"):
        fail(f"{where}: instant scope {e.get('s')!r}")
    if ph == "C":
        args = e.get("args")
        if not isinstance(args, dict) or not args or not all(
                isinstance(v, (int, float)) for v in args.values()):
            fail(f"{where}: a counter needs numeric args")
    if ph == "M":
        if e["name"] in ("process_name", "thread_name") and not isinstance(
                e.get("args", {}).get("name"), str):
            fail(f"{where}: {e['name']} without args.name")
        if e["name"].startswith("thread_") and not isinstance(e.get("tid"), int):
            fail(f"{where}: {e['name']} without tid")


def check_nesting(slices, track):
    """Perfetto nests complete events of one thread by time and drops one that overlaps
    another in part: each must end before the next starts or contain it."""
    stack = []
    for start, end, row in sorted(slices, key=lambda s: (s[0], -(s[1] - s[0]))):
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack and end > stack[-1][1]:
            fail(f"{track}: row {row} [{start}, {end}] ns overlaps row {stack[-1][2]} "
                 f"[{stack[-1][0]}, {stack[-1][1]}] ns in part")
        stack.append((start, end, row))


def find_trace_processor():
    shell = os.environ.get("HS_TRACE_PROCESSOR") or shutil.which("trace_processor_shell")
    if shell:
        return shell
    cached = glob.glob(os.path.expanduser(
        "~/.local/share/perfetto/prebuilts/trace_processor_shell*"))
    return cached[0] if cached else None


def trace_processor_counts(shell, path):
    query = ("select p.name as process, t.name as thread, count(*) as n from slice s "
             "join thread_track tt on s.track_id = tt.id join thread t using(utid) "
             "join process p using(upid) group by p.name, t.name")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as q:
        q.write(query)
    try:
        out = subprocess.run([shell, "-q", q.name, path], capture_output=True, text=True,
                             timeout=300)
    finally:
        os.unlink(q.name)
    if out.returncode != 0:
        fail(f"trace_processor_shell failed on {path}:\n{out.stderr[-2000:]}")
    lines = [l for l in out.stdout.splitlines() if l.startswith('"')]
    counts = {}
    for r in csv.DictReader(lines):
        counts[(r["process"], r["thread"])] = int(r["n"])
    return counts


def cmd_perfetto(a):
    with open(a.trace) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("the file is not an object with a traceEvents array")
    events = doc["traceEvents"]
    process, thread = {}, {}
    for i, e in enumerate(events):
        check_event_fields(e, i)
        if e["ph"] == "M" and e["name"] == "process_name":
            process[e["pid"]] = e["args"]["name"]
        if e["ph"] == "M" and e["name"] == "thread_name":
            thread[(e["pid"], e["tid"])] = e["args"]["name"]

    rows = read_source(a.source)
    sessions = any(r["session"] > 0 for r in rows)
    seen = [0] * len(rows)
    per_track = collections.defaultdict(list)
    instants = set()
    for e in events:
        if e["ph"] == "i":
            instants.add((e["pid"], e["args"]["unit"], e["args"]["step"]))
        if e["ph"] != "X":
            continue
        row = e["args"]["row"]
        if not 0 <= row < len(rows):
            fail(f"an event names row {row} of {len(rows)}")
        seen[row] += 1
        r = rows[row]
        want_process = (f"rank {r['rank']} session {r['session']}" if sessions
                        else f"rank {r['rank']}")
        got = (process.get(e["pid"]), thread.get((e["pid"], e["tid"])))
        if got != (want_process, r["stream"]):
            fail(f"row {row} ({want_process}, {r['stream']}) drawn on {got}")
        if e["name"] != r["kind"] or e["args"]["kind"] != r["kind"]:
            fail(f"row {row} is a {r['kind']} event, drawn as {e['name']}")
        if e["args"]["bytes"] != r["bytes"] or e["args"]["step"] != r["step"]:
            fail(f"row {row}: args {e['args']} differ from the trace")
        start, end = ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])
        if "start_us_in_trace" not in e["args"] and (
                start != round(r["start_ms"] * 1e6) or end != round(r["end_ms"] * 1e6)):
            fail(f"row {row}: [{start}, {end}] ns, the trace says "
                 f"[{r['start_ms']}, {r['end_ms']}] ms")
        per_track[(e["pid"], e["tid"])].append((start, end, row))
    missing = [i for i, n in enumerate(seen) if n != 1]
    if missing:
        fail(f"{len(missing)} rows have no event or several (first: row {missing[0]}, "
             f"{seen[missing[0]]} events)")
    for track, slices in per_track.items():
        check_nesting(slices, f"{process.get(track[0])}/{thread.get(track)}")
    steps = {(r["rank"], r["session"], r["unit"], r["step"]) for r in rows}
    if len(instants) != len(steps):
        fail(f"{len(instants)} step instants for {len(steps)} steps of the trace")
    want = collections.Counter(
        ((f"rank {r['rank']} session {r['session']}" if sessions else f"rank {r['rank']}"),
         r["stream"]) for r in rows)
    got = collections.Counter({(process[p], thread[(p, t)]): len(s)
                               for (p, t), s in per_track.items()})
    if got != want:
        fail(f"events per track {dict(got)} differ from the trace's rows {dict(want)}")
    print(f"   {a.trace}: {len(rows)} events, one per row, on {len(per_track)} tracks; "
          f"{len(steps)} step instants; nesting as Perfetto needs it")

    shell = find_trace_processor()
    if not shell:
        print("   trace_processor_shell not found (PyPI's perfetto package downloads it at first "
              "use, from a host this machine cannot reach; HS_TRACE_PROCESSOR=PATH names one): "
              "checked against the trace-event format above instead")
        return
    counts = trace_processor_counts(shell, a.trace)
    if counts != dict(want):
        fail(f"trace_processor counts {counts}, the trace has {dict(want)}")
    print(f"   trace_processor ({shell}): slices per process and thread equal the trace's rows")


# --- the HTML page in Chromium --------------------------------------------------------------

def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    fail("no chromium (Debian's chromium package; tools/setup.sh installs it)")


def run_chromium(args, out_dir):
    base = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-extensions", "--disable-breakpad",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars",
            f"--user-data-dir={out_dir}/profile"]
    cmd = base + args
    # No network at all where a network namespace can be made (root, as in CI).
    if shutil.which("unshare") and subprocess.run(
            ["unshare", "--net", "true"], capture_output=True).returncode == 0:
        cmd = ["unshare", "--net"] + cmd
    out = subprocess.run(cmd, capture_output=True, timeout=180)
    if out.returncode != 0:
        fail(f"chromium failed ({out.returncode}): {out.stderr.decode(errors='replace')[-2000:]}")
    return out.stdout.decode(errors="replace")


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        fail(f"{path}: a PNG layout this check does not read ({depth}, {color}, {interlace})")
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


KIND_COLORS = {"weights": (0x4e, 0x79, 0xa7), "kv": (0xf2, 0x8e, 0x2b), "act": (0xe1, 0x57, 0x59),
               "recompute": (0x76, 0xb7, 0xb2), "attention": (0x59, 0xa1, 0x4f),
               "projections": (0xed, 0xc9, 0x48), "ffn": (0xb0, 0x7a, 0xa1),
               "write-back": (0xff, 0x9d, 0xa7), "sampling": (0x9c, 0x75, 0x5f),
               "embed": (0xba, 0xb0, 0xac), "expand": (0x17, 0xbe, 0xcf)}


def cmd_html(a):
    html = open(a.report, encoding="utf-8").read()
    # Nothing that loads from elsewhere, in the file as written.
    for pattern, what in [(r"<script", "a script"), (r"<link\b", "a link element"),
                          (r"<img\b", "an image"), (r"<iframe\b", "an iframe"),
                          (r"@import", "a CSS import"),
                          (r"(?:src|href|srcset|action)\s*=\s*[\"']?\s*(?:https?:)?//",
                           "a URL in src/href"),
                          (r"url\(\s*[\"']?\s*(?:https?:)?//", "a URL in CSS")]:
        m = re.search(pattern, html, re.I)
        if m:
            fail(f"{a.report} has {what}: ...{html[max(0, m.start() - 60):m.end() + 60]}...")
    os.makedirs(a.out_dir, exist_ok=True)
    url = "file://" + os.path.abspath(a.report)
    net_log = os.path.join(a.out_dir, "net-log.json")
    dom = run_chromium(["--dump-dom", f"--log-net-log={net_log}", url], a.out_dir)
    sections = a.sections.split(",")
    for sid in sections:
        m = re.search(r'<section id="%s">(.*?)</section>' % re.escape(sid), dom, re.S)
        if not m:
            fail(f"the rendered page has no section '{sid}'")
        if sid not in ("summary",) and "<svg" not in m.group(1):
            fail(f"section '{sid}' has no SVG chart")
    for attr in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', dom):
        if not attr.startswith("#"):
            fail(f"the rendered page loads '{attr}'")
    # Requests the page made (the browser's own background requests have no origin; none can
    # leave a network namespace anyway).
    log = json.load(open(net_log))
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    for e in log["events"]:
        p = e.get("params", {})
        if types.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in p and \
                p.get("initiator") != "not an origin":
            fail(f"the page requested {p.get('url')} (initiator {p.get('initiator')})")
    shot = os.path.join(a.out_dir, "report.png")
    run_chromium([f"--screenshot={shot}", f"--window-size={a.width},{a.height}", url],
                 a.out_dir)
    width, height, pixels = png_pixels(shot)
    if (width, height) != (a.width, a.height):
        fail(f"the screenshot is {width}x{height}, asked for {a.width}x{a.height}")
    counts = collections.Counter(p for row in pixels for p in row)
    non_white = sum(n for p, n in counts.items() if p != (255, 255, 255))
    if non_white < 0.02 * width * height:
        fail(f"the screenshot is nearly blank ({non_white} non-white pixels)")
    for kind in filter(None, a.kinds.split(",")):
        if counts.get(KIND_COLORS[kind], 0) < 20:
            fail(f"the screenshot shows no {kind} bars (color {KIND_COLORS[kind]})")
    print(f"   {a.report}: sections {', '.join(sections)} rendered with their charts; no "
          f"request by the page; screenshot {width}x{height} ({non_white} non-white pixels, "
          f"kinds {a.kinds or '-'} drawn)")


def cmd_decode_step(a):
    text = open(a.report_text).read()
    m = re.search(r"decode step\s+([0-9.]+) (ms|s) measured", text)
    if not m:
        fail("the report has no measured decode step")
    ms = float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
    want = json.load(open(a.bench_json))["measured_step_ms"]
    # The report prints 3 decimals of ms below 100 ms, 1 above.
    if abs(ms - want) > (0.0006 if ms < 100 else 0.06):
        fail(f"the report's decode step {ms} ms, bench measured {want} ms")
    print(f"   decode step {ms} ms, as bench --json measured it ({want:.4f} ms)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("perfetto")
    s.add_argument("trace")
    s.add_argument("source")
    s = sub.add_parser("html")
    s.add_argument("report")
    s.add_argument("out_dir")
    s.add_argument("--sections",
                   default="summary,time-by-kind,pcie,step-times,layers,step-timeline,ranks")
    s.add_argument("--kinds", default="")
    s.add_argument("--width", type=int, default=1100)
    s.add_argument("--height", type=int, default=1600)
    s = sub.add_parser("decode-step")
    s.add_argument("report_text")
    s.add_argument("bench_json")
    a = p.parse_args()
    {"perfetto": cmd_perfetto, "html": cmd_html, "decode-step": cmd_decode_step}[a.cmd](a)


if __name__ == "__main__":
    main()
