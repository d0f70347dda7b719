# Bad inputs give a clear error and lose nothing: malformed dataset lines become per-request
# error records (the rest run); a missing input, an unusable output path and an output or
# journal of another job are refused before any compute, with existing files left byte for
# byte as they were.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"
run() { "$BIN" run --model "$MODEL" --batch-size 3 "$@"; }
fingerprint() { sha256sum "$@" | sha256sum | cut -c1-16; }

step "malformed dataset lines are per-request errors"
cat >bad.jsonl <<'JSONL'
{"id": "a", "input_ids": [5, 6, 7], "max_new_tokens": 3}
{"id": "b", "input_ids": [5, 6,
{"input_ids": [5]}
{"id": "c", "input_ids": [5, 600]}
{"id": "a", "input_ids": [9]}
{"id": "d", "prompt": "hello"}
{"id": "e", "input_ids": [1, 2], "max_new_tokens": -1}

{"id": "f", "input_ids": [7, 8, 9], "max_new_tokens": 2}
JSONL
run --input bad.jsonl --output bad.jsonl.out.jsonl 2>bad.log || { cat bad.log; die "a bad line aborted the job"; }
$PY - bad.jsonl.out.jsonl <<'PY'
import json, sys
rows = {r["line"]: r for r in map(json.loads, open(sys.argv[1]))}
want = {2: "line 2: not valid JSON", 3: "line 3: missing 'id'",
        4: "line 4: token id 600 at position 1 is outside the vocabulary (0..511)",
        5: "line 5: duplicate id 'a' (first on line 1)",
        6: "line 6: 'prompt' needs a tokenizer",
        7: "line 7: 'max_new_tokens' must be a non-negative integer"}
for line, text in want.items():
    r = rows[line]
    assert r["status"] == "error" and r["error"].startswith(text), (line, r)
for line, id_, n in [(1, "a", 3), (9, "f", 2)]:
    r = rows[line]
    assert r["status"] == "ok" and r["id"] == id_ and len(r["output_ids"]) == n, r
assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7, 9], sorted(rows)
print("   6 error records with their line numbers; lines 1 and 9 ran")
PY
grep -q "2 ok, 6 failed" bad.log || { cat bad.log; die "summary line"; }

$CHECK make-dataset good.jsonl --goldens "$GOLDEN" --n 20
step "missing input file"
expect_error "cannot open input file '$TMP/nope.jsonl': no such file" \
  run --input "$TMP/nope.jsonl" --output out.h5
[ ! -e out.h5 ] && [ ! -e out.h5.journal ] || die "files created for a missing input"
expect_error "cannot open input file '$TMP': it is a directory" run --input "$TMP" --output out.h5

step "unusable output paths, refused before any compute"
expect_error "cannot write --output '$TMP/no/such/dir/out.h5': directory '$TMP/no/such/dir' does not exist" \
  run --input good.jsonl --output "$TMP/no/such/dir/out.h5"
touch afile
expect_error "'$TMP/afile' is not a directory" run --input good.jsonl --output "$TMP/afile/out.jsonl"
mkdir adir.h5
expect_error "cannot write --output 'adir.h5': it is a directory" run --input good.jsonl --output adir.h5
expect_error "the name must end in .jsonl (JSON lines) or .h5 / .hdf5 (HDF5)" \
  run --input good.jsonl --output out.csv
! grep -q "requests from" "$TMP/stderr" || die "work started before the output was checked"
expect_error "--stop needs the model's tokenizer" run --input good.jsonl --output s.h5 --stop x
expect_error "--resume and --overwrite contradict each other" \
  run --input good.jsonl --output c.h5 --resume --overwrite

step "an existing output is never overwritten without --resume or --overwrite"
run --input good.jsonl --output done.h5 --max-new-tokens 4 2>/dev/null
before=$(fingerprint done.h5 done.h5.journal)
expect_error "'done.h5' already exists: refusing to overwrite it. Give --resume" \
  run --input good.jsonl --output done.h5 --max-new-tokens 4
[ "$(fingerprint done.h5 done.h5.journal)" = "$before" ] || die "done.h5 changed"

step "--resume with the journal of another job names what differs, changes nothing"
$CHECK make-dataset other.jsonl --goldens "$GOLDEN" --n 20 --seed 7
expect_error "--resume: the journal 'done.h5.journal' belongs to a different job" \
  run --input other.jsonl --output done.h5 --max-new-tokens 4 --resume
grep -qF "input file contents (input.fnv1a64): journal" "$TMP/stderr" || die "input difference not named"
expect_error "--max-new-tokens (generation.max_new_tokens): journal 4, this run 5" \
  run --input good.jsonl --output done.h5 --max-new-tokens 5 --resume
expect_error "--temperature (generation.temperature): journal 0.0, this run 0.5" \
  run --input good.jsonl --output done.h5 --max-new-tokens 4 --temperature 0.5 --resume
mkdir other-model && cp "$MODEL"/* other-model/ && sed -i 's/"eos_token_id": 2/"eos_token_id": 3/' other-model/config.json
expect_error "model config.json contents (model.config_fnv1a64)" \
  "$BIN" run --model other-model --batch-size 3 --input good.jsonl --output done.h5 --max-new-tokens 4 --resume
[ "$(fingerprint done.h5 done.h5.journal)" = "$before" ] || die "done.h5 or its journal changed"

step "--resume of an output without its journal, or with a foreign journal"
cp done.h5 lone.h5
expect_error "--resume: 'lone.h5' exists but its journal 'lone.h5.journal' does not" \
  run --input good.jsonl --output lone.h5 --max-new-tokens 4 --resume
cmp -s done.h5 lone.h5 || die "lone.h5 changed"
cp done.h5 x.h5 && echo "not a journal" >x.h5.journal
expect_error "--resume: 'x.h5.journal' is not a HybridServe journal; refusing to touch it" \
  run --input good.jsonl --output x.h5 --max-new-tokens 4 --resume
grep -qx "not a journal" x.h5.journal || die "foreign journal changed"

step "--resume of a finished job recomputes nothing; --overwrite starts again"
run --input good.jsonl --output done.h5 --max-new-tokens 4 --resume 2>resume.log
grep -q "skipped: 20; to compute: 0" resume.log || { cat resume.log; die "finished job recomputed"; }
$CHECK once done.h5 good.jsonl --errors 0
run --input other.jsonl --output done.h5 --max-new-tokens 4 --overwrite 2>/dev/null
$CHECK once done.h5 other.jsonl --errors 0
step "errors_test passed"
