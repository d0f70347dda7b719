# The results file between checkpoints: after each checkpoint (--on-checkpoint runs the checks
# while the job waits) it opens with h5dump and h5py, is consistent (count, shapes, lengths),
# holds only journaled results, and every row it shows is the row of the finished file, never
# rewritten; the rows done only grow; a .jsonl file only grows by whole lines in input order.
# The kill -9 side (readable after a crash, exactly once on resume) is resume_test.sh.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

$CHECK make-dataset data.jsonl --goldens "$GOLDEN" --n 400 --long-every 2 --with-goldens --bad-line
mkdir snaps
ARGS=(run --model "$MODEL" --input data.jsonl --batch-size 16 --checkpoint-s 0.1 --progress-s 5)
for out in out.h5 out.jsonl; do
  step "$out: a check after every checkpoint"
  hook="{ case \"\$HYBRIDSERVE_OUTPUT\" in *.h5) h5dump -H \"\$HYBRIDSERVE_OUTPUT\" >/dev/null ;; esac && $CHECK snapshot \"\$HYBRIDSERVE_OUTPUT\" \"\$HYBRIDSERVE_OUTPUT.journal\" snaps/$out.\$(date +%s%N).json >/dev/null; }"
  "$BIN" "${ARGS[@]}" --output "$out" --on-checkpoint "$hook" 2>"$out.log" ||
    { cat "$out.log"; die "run failed"; }
  if grep -q "on-checkpoint command failed" "$out.log"; then
    grep -B2 -A2 "on-checkpoint command failed" "$out.log" | head -20
    die "a check at a checkpoint failed"
  fi
  $CHECK once "$out" data.jsonl --errors 1
  "$PY" - "$out" <<'PY'
import glob, json, sys
out = sys.argv[1]
snaps = sorted(glob.glob(f"snaps/{out}.*.json"), key=lambda p: int(p.split(".")[-2]))
assert len(snaps) >= 3, f"only {len(snaps)} checkpoints were checked"
final = json.load(open(snaps[-1]))
prev_rows, prev_bytes = 0, ""
for p in snaps:
    s = json.load(open(p))
    rows = s["rows"]
    assert len(rows) >= prev_rows, (p, len(rows), prev_rows)
    for line, r in rows.items():
        assert final["rows"][line] == r, (p, line, r, final["rows"][line])
    assert s["bytes"].startswith(prev_bytes), f"{p}: earlier lines changed"
    prev_rows, prev_bytes = len(rows), s["bytes"]
print(f"   {len(snaps)} checkpoints checked: rows done {[len(json.load(open(p))['rows']) for p in snaps]}; "
      "each row as in the final file")
PY
done
step "incremental_test passed"
