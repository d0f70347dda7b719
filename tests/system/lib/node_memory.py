#!/usr/bin/env python3
"""Memory of a job's ranks as the kernel counts it, and who can reach its shared weights.

    node_memory.py run --ranks N --out M.json --log LOG [--probe-uid UID] -- CMD...

Runs CMD (a `hybridserve run`, under mpirun or not) and samples /proc/PID/smaps_rollup of every
hybridserve process it started (its descendants only: other tests may run beside it) until it
exits. Proportional set size (PSS) splits a page among the processes that map it, so the sum
over ranks is what the node holds. M.json gets:
  rc                 CMD's exit code
  ranks              hybridserve processes seen
  node_peak_mib      the largest sum of the ranks' PSS at one sample (the node's peak)
  rank_peaks_mib     each rank's own peak PSS, and their sum in sum_of_rank_peaks_mib
  steady_node_mib    what the ranks hold once built (memory, weights and caches in place: what
                     the plan promises): anon_mib, the sum over the ranks of the most anonymous
                     memory each held from its "engine ready" line on (each rank's in
                     rank_anon_mib), plus shmem_mib, the most shared memory the ranks mapped
                     together at one sample while all N were built and alive (a rank's share
                     of a shared page grows as the others exit: only the sum holds still).
                     Pages of files (code, libraries: page cache the kernel can take back) are
                     not held; file_mib is the largest sum of them once all are built
  probe              with --probe-uid, once every rank is ready: what a process of that uid
                     could open of the job's shared weight segment (see probe())
CMD's stderr goes to LOG. Sampling measures; it synchronises nothing.
"""
import argparse
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time

MIB = 1024.0


def children_map():
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            # comm may hold spaces and parentheses: the fields after the last ')' are fixed.
            rest = s[s.rindex(")") + 2 :].split()
            comm = s[s.index("(") + 1 : s.rindex(")")]
            parent[int(d)] = (int(rest[1]), comm)
        except (OSError, ValueError):
            pass
    return parent


def ranks_of(root):
    procs = children_map()
    out = []
    for pid, (_, comm) in procs.items():
        if comm != "hybridserve":
            continue
        p = pid
        while p in procs and p != root and p > 1:
            p = procs[p][0]
        if p == root:
            out.append(pid)
    return out


def rollup(pid):
    r = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                m = re.match(r"(\w+):\s+(\d+) kB", line)
                if m:
                    r[m.group(1)] = int(m.group(2)) / MIB
    except OSError:
        return None
    return r if "Pss" in r else None


def segment_mib(pids):
    """MiB the tmpfs holds for the job's shared weight segments: the blocks of each segment file
    (reached through a rank's /proc/PID/map_files, as the name is gone), each file once. Exact,
    whoever maps it and whenever sampled, unlike a sum of the ranks' proportional shares."""
    held = {}
    for pid in pids:
        for rng, _ in segment_maps(pid):
            try:
                st = os.stat(f"/proc/{pid}/map_files/{rng}")
            except OSError:
                continue
            held[(st.st_dev, st.st_ino)] = st.st_blocks * 512 / (1 << 20)
    return sum(held.values())


def segment_maps(pid):
    """(address range, path) of the job's shared weight segment in pid's mappings."""
    out = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and "hybridserve-w-" in parts[5]:
                    out.append((parts[0], parts[5].strip()))
    except OSError:
        pass
    return out


def try_open(path, flags):
    try:
        fd = os.open(path, flags)
        os.close(fd)
        return "opened"
    except OSError as e:
        return os.strerror(e.errno)


def probe(pids, uid):
    """What uid can open of the segment: its name (if it still has one), the map_files and fd
    links of every rank. Also the segment's owner and mode, seen by this (the job's) uid."""
    result = {"segments": 0, "attempts": {}, "owner": None, "mode": None}
    targets = []
    for pid in pids:
        for rng, path in segment_maps(pid):
            result["segments"] += 1
            name = path.replace(" (deleted)", "")
            link = f"/proc/{pid}/map_files/{rng}"
            try:
                st = os.stat(link)
                result["owner"], result["mode"] = st.st_uid, oct(stat.S_IMODE(st.st_mode))
            except OSError as e:
                result["owner"] = "stat failed: " + os.strerror(e.errno)
            targets += [name, link]
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if "hybridserve-w-" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    targets.append(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    code = (
        "import json, os, sys\n"
        "out = {}\n"
        "for p in json.loads(sys.argv[1]):\n"
        "    for name, flags in (('read', os.O_RDONLY), ('write', os.O_RDWR)):\n"
        "        try:\n"
        "            os.close(os.open(p, flags)); out[p + ' ' + name] = 'opened'\n"
        "        except OSError as e:\n"
        "            out[p + ' ' + name] = os.strerror(e.errno)\n"
        "print(json.dumps(out))\n"
    )

    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    r = subprocess.run([sys.executable, "-c", code, json.dumps(targets)], preexec_fn=drop,
                       capture_output=True, text=True, timeout=60)
    result["attempts"] = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}
    return result


def run(a):
    log = open(a.log, "w")
    p = subprocess.Popen(a.cmd, stderr=subprocess.PIPE, text=True)
    ready = set()  # pids of ranks whose engine is built

    def reader():
        for line in p.stderr:
            log.write(line)
            log.flush()
            m = re.search(r"rank \d+ \(pid (\d+),.*engine ready", line)
            if m:
                ready.add(int(m.group(1)))

    t = threading.Thread(target=reader)
    t.start()
    node_peak, rank_peak, built, shmem, file_peak = 0.0, {}, {}, 0.0, 0.0
    segment = 0.0  # the weight segment's bytes in the tmpfs
    probed = None
    while p.poll() is None:
        pids = ranks_of(p.pid)
        sample = {pid: rollup(pid) for pid in pids}
        sample = {pid: r for pid, r in sample.items() if r}
        total = sum(r["Pss"] for r in sample.values())
        node_peak = max(node_peak, total)
        for pid, r in sample.items():
            rank_peak[pid] = max(rank_peak.get(pid, 0.0), r["Pss"])
            if pid in ready:
                built[pid] = max(built.get(pid, 0.0), r.get("Pss_Anon", 0))
        if len(ready) >= a.ranks and len(sample) >= a.ranks and ready <= set(sample):
            shmem = max(shmem, sum(r.get("Pss_Shmem", 0) for r in sample.values()))
            segment = max(segment, segment_mib(list(sample)))
            file_peak = max(file_peak, sum(r.get("Pss_File", 0) for r in sample.values()))
            if a.probe_uid is not None and probed is None:
                probed = probe(list(sample), a.probe_uid)
        time.sleep(0.02)
    t.join()
    log.close()
    out = {
        "rc": p.returncode,
        "ranks": len(rank_peak),
        "node_peak_mib": node_peak,
        "rank_peaks_mib": sorted(rank_peak.values()),
        "sum_of_rank_peaks_mib": sum(rank_peak.values()),
        # What the plan counts: the ranks' own memory and the weight segment. The rest of the
        # shared memory is MPI's (its transport and PMIx's job data), outside the plan, and
        # varies with the moment sampled.
        "steady_node_mib": sum(built.values()) + segment,
        "anon_mib": sum(built.values()),
        "shmem_mib": shmem,
        "segment_mib": segment,
        "rank_anon_mib": sorted(built.values()),
        "file_mib": file_peak,
        "probe": probed,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()
                      if k not in ("probe", "rank_peaks_mib", "rank_anon_mib")}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    r = sub.add_parser("run")
    r.add_argument("--ranks", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--probe-uid", type=int)
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    sys.exit(run(a))


if __name__ == "__main__":
    main()
