"""tools/bench_compare.py: which runs the driver starts near its time limit, its plan, FlexGen's
compressed candidates (sized with tools/flexgen_run.py's byte model) and the report's bests.

Run with:  python3 -m unittest discover -s tests/python   (stdlib only)
"""

import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import bench_compare as bc  # noqa: E402
import flexgen_run as fgr  # noqa: E402

GiB = 1 << 30


class SkipReasonTest(unittest.TestCase):
    def test_runs_with_time_left_and_nothing_known(self):
        self.assertIsNone(bc.skip_reason(100, 20, 300))

    def test_skips_below_the_minimum_run(self):
        self.assertIn("time limit (300 s) reached", bc.skip_reason(19.9, 20, 300))

    def test_skips_a_run_that_a_similar_run_says_cannot_finish(self):
        # On an H100: 46 s left after a 144 s all-CPU run; the split, started, was killed.
        why = bc.skip_reason(46, 20, 250, expect_s=144)
        self.assertIn("46 s left of 250 s", why)
        self.assertIn("took 144 s", why)

    def test_runs_when_enough_is_left_for_a_faster_similar_run(self):
        self.assertIsNone(bc.skip_reason(0.75 * 144, 20, 250, expect_s=144))


class SimilarWallTest(unittest.TestCase):
    def test_shortest_successful_run(self):
        recs = [None, {"status": "ok", "wall_s": 82.3}, {"status": "failed", "wall_s": 5.0},
                {"status": "ok", "wall_s": 66.4}, {"status": "skipped"}]
        self.assertEqual(bc.similar_wall_s(recs), 66.4)

    def test_none_without_a_successful_run(self):
        self.assertIsNone(bc.similar_wall_s([None, {"status": "failed", "wall_s": 3.0}]))


class ShorterGenWallTest(unittest.TestCase):
    def rec(self, gen, wall, status="ok"):
        return {"status": status, "wall_s": wall, "workload": {"gen": gen}}

    def test_scales_a_shorter_run_by_the_generation_length(self):
        # On an H100, ours opt-30b p1024 g32 took 89.9 s; g128 then needs ~360 s,
        # and with 57 s left the driver skips it (0.7 x 360 > 57).
        expect = bc.shorter_gen_wall_s([self.rec(32, 89.9)], 128)
        self.assertAlmostEqual(expect, 359.6)
        self.assertIn("took 360 s", bc.skip_reason(57, 20, 400, expect_s=expect))

    def test_a_cut_flexgen_run_keeps_its_wall_time(self):
        self.assertEqual(bc.shorter_gen_wall_s([self.rec(32, 147.0)], 128, scales=False), 147.0)

    def test_ignores_longer_failed_and_missing_runs(self):
        recs = [None, self.rec(128, 10.0), self.rec(32, 5.0, "failed"), self.rec(64, 50.0)]
        self.assertEqual(bc.shorter_gen_wall_s(recs, 128), 100.0)
        self.assertIsNone(bc.shorter_gen_wall_s([self.rec(128, 10.0)], 128))


class SamePromptRecordsTest(unittest.TestCase):
    def test_other_generation_lengths_of_the_same_model_batch_and_prompt(self):
        def w(model, prompt, gen, batch=16):
            return {"model": model, "batch": batch, "prompt": prompt, "gen": gen}
        workloads = [w("opt-30b", 1024, 32), w("opt-30b", 1024, 128), w("opt-30b", 512, 32),
                     w("opt-13b", 1024, 32), w("opt-30b", 1024, 32, batch=8)]
        ok = {"status": "ok", "wall_s": 90.0, "workload": workloads[0]}
        results = {(j, "24 GiB"): {"ours": {}, "fg_all_cpu": None} for j in range(5)}
        for j in (0, 2, 3, 4):
            results[(j, "24 GiB")]["ours"]["auto"] = dict(ok, workload=workloads[j])
        results[(0, "24 GiB")]["fg_all_cpu"] = ok
        ours = bc.same_prompt_records(workloads, results, 1, "24 GiB", "ours")
        self.assertEqual([r["workload"] for r in ours], [workloads[0]])
        self.assertEqual(bc.same_prompt_records(workloads, results, 1, "24 GiB", "fg_all_cpu"),
                         [ok])
        # opt-30b p1024 g32 took 90 s, so g128 is expected to take 360 s.
        self.assertEqual(bc.shorter_gen_wall_s(ours, 128), 360.0)


class PlanOnlyTest(unittest.TestCase):
    def test_plan_lowers_the_batch_to_fit_host_memory_and_lists_every_run(self):
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_compare.py"), "--plan-only",
                            "--binary", "/nonexistent/hybridserve", "--models", "opt-13b",
                            "--prompt-lens", "1024", "--gen-lens", "32", "--budgets", "24",
                            "--policies", "auto,kv", "--host-mem-gib", "101",
                            "--gpu-total-gib", "79.1"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        # FlexGen all-CPU keeps weights and KV cache in host memory. opt-13b: 26 GB of fp16
        # weights; KV 40 layers x 2 x 5120 x 2 bytes = 0.82 MB a token. At 1056 tokens, batch
        # 96 needs 26 + 83 = 109 GB (101.5 GiB) > 101 GiB, batch 64 26 + 55 = 81 GB: 64.
        self.assertIn("batch 128 -> 64", out)
        self.assertIn("plan: ours auto opt-13b b64 p1024 g32 @24 GiB", out)
        self.assertIn("plan: flexgen all-CPU opt-13b b64 p1024 g32", out)
        self.assertIn("plan: ours kv opt-13b b64 p1024 g32 @24 GiB", out)

    def test_splits_first_plans_the_split_before_all_cpu(self):
        # opt-13b p512 at 24 GiB: FlexGen's best is a split (57.0 against all-CPU 44.8 tok/s on
        # H100s); in a 10-minute call the split must run before all-CPU, not be cut.
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_compare.py"), "--plan-only",
                            "--binary", "/nonexistent/hybridserve", "--models", "opt-13b",
                            "--prompt-lens", "512", "--gen-lens", "32", "--budgets", "24",
                            "--policies", "auto", "--host-mem-gib", "101",
                            "--gpu-total-gib", "79.1", "--flexgen-splits", "splits-first",
                            "--flexgen-compress", "none"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        plan = [line.split("plan: ", 1)[1] for line in r.stdout.splitlines() if "plan: " in line]
        self.assertEqual(len(plan), 3, plan)
        self.assertTrue(plan[0].startswith("ours auto opt-13b b128 p512 g32"), plan)
        self.assertTrue(plan[1].startswith("flexgen best opt-13b b128 p512 g32 @24 GiB"), plan)
        self.assertNotIn("candidates [none]", plan[1])
        self.assertTrue(plan[2].startswith("flexgen all-CPU opt-13b b128 p512 g32"), plan)


def plan_lines(*extra):
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_compare.py"), "--plan-only",
                        "--binary", "/nonexistent/hybridserve", "--models", "opt-13b",
                        "--prompt-lens", "512", "--gen-lens", "32", "--budgets", "24,full",
                        "--policies", "auto", "--host-mem-gib", "101", "--gpu-total-gib", "79.1",
                        *extra], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return [line.split("plan: ", 1)[1] for line in r.stdout.splitlines() if "plan: " in line]


class CompressedCandidatesTest(unittest.TestCase):
    def test_modes_of_the_option(self):
        self.assertEqual(bc.compress_modes("none"), [])
        self.assertEqual(sorted(bc.compress_modes("all")), ["cache", "weight", "weight+cache"])
        self.assertEqual(bc.compress_modes("weight,weight"), ["weight"])
        with self.assertRaises(ValueError):
            bc.compress_modes("int4")
        self.assertEqual(fgr.compress_flags("weight+cache"),
                         ["--compress-weight", "--compress-cache"])
        self.assertEqual(fgr.compress_flags(""), [])

    def test_the_default_plans_every_compressed_mode_after_the_uncompressed_runs(self):
        plan = plan_lines()
        fg = [p for p in plan if p.startswith("flexgen")]
        # all-CPU, a best per budget, then the three 4-bit modes per budget.
        self.assertEqual(len(fg), 1 + 2 + 3 * 2, plan)
        self.assertTrue(fg[0].startswith("flexgen all-CPU"), fg)
        self.assertTrue(all("4-bit" not in p for p in fg[:3]), fg)
        for what in ("4-bit weights+KV", "4-bit weights", "4-bit KV"):
            for budget in ("@24 GiB", "@full (78 GiB)"):
                self.assertTrue(any(p.startswith(f"flexgen best {what} opt-13b") and budget in p
                                    for p in fg[3:]), (what, budget, fg))

    def test_none_plans_no_compressed_run(self):
        plan = plan_lines("--flexgen-compress", "none")
        self.assertEqual(len(plan), 2 + 1 + 2, plan)
        self.assertTrue(all("4-bit" not in p for p in plan), plan)

    def test_one_mode_plans_only_that_mode(self):
        fg = [p for p in plan_lines("--flexgen-compress", "weight") if "4-bit" in p]
        self.assertEqual(len(fg), 2, fg)
        self.assertTrue(all(p.startswith("flexgen best 4-bit weights opt-13b") for p in fg), fg)

    def test_ours_weight_format_is_in_the_plan(self):
        plan = plan_lines("--ours-weight-format", "int4")
        self.assertIn("ours auto int4 opt-13b b128 p512 g32 @24 GiB", plan)


# opt-30b (flexgen/opt_config.py): 48 layers, hidden 7168, 56 heads, vocab 50272, 2050
# positions. FlexGen allocates the token embedding twice (input and output layers).
L30, H30, HEADS30, V, POS = 48, 7168, 56, 50272, 2050
MATRIX_ELEMS_30B = L30 * 12 * H30 * H30 + 2 * V * H30 + POS * H30  # 30.33e9


class CompressedBytesTest(unittest.TestCase):
    def weights_gpu(self, compress):
        e = fgr.estimate_memory("opt-30b", 8, 1, 512, 32, (100, 0, 0, 100, 100, 0), False,
                                compress, False)
        return e["weights_gpu_bytes"]

    def test_opt30b_weights_are_60_gb_in_fp16_and_four_and_a_half_sixteenths_of_that_in_4_bit(self):
        fp16 = 2 * MATRIX_ELEMS_30B  # 60.7 GB; biases and layer norms add 0.01 %
        self.assertAlmostEqual(self.weights_gpu(False) / fp16, 1.0, delta=1e-3)
        # 64 fp16 values (128 bytes) -> 32 bytes of nibbles + fp16 scale and min (4 bytes).
        # The vocab (50272 = 785.5 x 64) and position (2050) dims round up to whole groups.
        self.assertAlmostEqual(self.weights_gpu(True) / (fp16 * 36 / 128), 1.0, delta=2e-3)

    def test_compressed_kv_cache_is_36_bytes_per_64_values(self):
        s_tot, b = 512 + 32 - 1, 8
        fp16 = L30 * 2 * s_tot * b * H30 * 2  # K and V of every layer, 8 sequences
        for cc, want in ((False, fp16), (True, fp16 * 36 // 128)):  # head dim 128 = 2 groups
            e = fgr.estimate_memory("opt-30b", b, 1, 512, 32, bc.ALL_CPU, False, False, cc)
            self.assertEqual(e["kv_cpu_bytes"], want)

    def test_a_placement_that_does_not_fit_uncompressed_fits_with_4_bit_weights(self):
        # All weights on the GPU: 60.7 GB (56.5 GiB) of fp16 cannot fit 24 GiB; 17.1 GB
        # (15.9 GiB) of 4-bit weights leave 8 GiB for a GPU batch of 8 at prompt 512 (< 1 GiB
        # of activations), the fp16 copy of the layer being decompressed (an MLP: 8 x 7168^2
        # x 2 bytes = 0.82 GB) and the margin. Under 16 GiB they do not fit.
        self.assertGreater(2 * MATRIX_ELEMS_30B, 24 * GiB)
        self.assertLess(2 * MATRIX_ELEMS_30B * 36 / 128, 16 * GiB)
        pct = (100, 0, 0, 100, 100, 0)
        self.assertFalse(bc.fits_budget("opt-30b", 8, 1, 512, 32, pct, 24))
        self.assertTrue(bc.fits_budget("opt-30b", 8, 1, 512, 32, pct, 24, "weight"))
        self.assertTrue(bc.fits_budget("opt-30b", 8, 1, 512, 32, pct, 24, "weight+cache"))
        self.assertFalse(bc.fits_budget("opt-30b", 8, 1, 512, 32, pct, 16, "weight"))

    def test_candidates_put_every_compressed_weight_on_the_gpu_where_fp16_cannot(self):
        plain = bc.flexgen_candidates("opt-30b", 8, 1, 512, 32, 24, 2)
        self.assertTrue(plain and all(c[0] < 100 for c in plain), plain)
        comp = bc.flexgen_candidates("opt-30b", 8, 1, 512, 32, 24, 2, "weight")
        self.assertEqual(comp[0][:2], (100, 0), comp)

    def test_a_compressed_cache_is_never_split_between_devices(self):
        # flex_opt asserts that a compressed cache is not on its mixed device.
        for budget in (12, 24, 40, 78.5):
            for c in bc.flexgen_candidates("opt-13b", 64, 2, 512, 32, budget, 3, "cache"):
                self.assertIn(c[2], (0, 100), (budget, c))
        with self.assertRaises(ValueError):
            fgr.estimate_memory("opt-13b", 64, 2, 512, 32, (100, 0, 50, 50, 100, 0),
                                False, False, True)


def flexgen_log(total, prefill=2000.0, decode=None):
    """Lines as FlexGen's write_benchmark_log prints them (flexgen/utils.py)."""
    decode = total * 1.05 if decode is None else decode
    return ("model size: 55.803 GB\tcache size: 4.000 GB\thidden size (p): 0.100 GB\n"
            "peak gpu mem: 20.000 GB\tprojected: False\n"
            f"prefill latency: 8.000 s\tprefill throughput: {prefill:.3f} token/s\n"
            f"decode latency: 100.000 s\tdecode throughput: {decode:.3f} token/s\n"
            f"total latency: 108.000 s\ttotal throughput: {total:.3f} token/s\n")


def run_record(out, rc, percent, compress=""):
    metrics, err = bc.parse_flexgen(out, rc)
    rec = {"percent": list(percent), "cpu_attn": False, "compress": compress}
    rec.update(status="failed", reason=err) if err else rec.update(status="ok", metrics=metrics)
    return rec


class ReportBestTest(unittest.TestCase):
    def test_a_compressed_run_wins_and_the_best_uncompressed_is_reported_too(self):
        all_cpu = run_record(flexgen_log(44.8), 0, bc.ALL_CPU)
        split = run_record(flexgen_log(57.0), 0, (60, 40, 0, 100, 100, 0))
        both = run_record(flexgen_log(63.2), 0, (100, 0, 0, 100, 100, 0), "weight+cache")
        oom = run_record("torch.OutOfMemoryError: CUDA out of memory.\n", 1,
                         (100, 0, 100, 0, 100, 0), "weight")
        self.assertEqual(oom["reason"], "OOM")
        best, plain = bc.flexgen_bests([all_cpu, split, oom, both, None])
        self.assertIs(best, both)
        self.assertIs(plain, split)
        self.assertEqual(bc.flexgen_config_label(best), "100 0 0 100 100 0, 4-bit weights+KV")
        self.assertEqual(bc.flexgen_config_label(plain), "60 40 0 100 100 0")
        self.assertEqual(bc.flexgen_config_label(all_cpu), "all-CPU")

    def test_an_uncompressed_run_can_win_both(self):
        split = run_record(flexgen_log(57.0), 0, (60, 40, 0, 100, 100, 0))
        kv4 = run_record(flexgen_log(51.5), 0, bc.ALL_CPU, "cache")
        best, plain = bc.flexgen_bests([kv4, split])
        self.assertIs(best, split)
        self.assertIs(plain, split)
        self.assertEqual(bc.flexgen_config_label(kv4), "all-CPU, 4-bit KV")

    def test_no_uncompressed_success(self):
        fail = run_record("Traceback\nRuntimeError: boom\n", 1, bc.ALL_CPU)
        w4 = run_record(flexgen_log(30.0), 0, bc.ALL_CPU, "weight")
        self.assertEqual(bc.flexgen_bests([fail, w4]), (w4, None))


# Stands in for `python3 tools/flexgen_run.py ...`: prints FlexGen's log lines with a
# throughput chosen by the flags, or an OOM for 4-bit weights+KV.
FAKE_FLEXGEN = """\
import sys
args = sys.argv[2:]
pct = args[args.index("--percent") + 1:args.index("--percent") + 7]
cw, cc = "--compress-weight" in args, "--compress-cache" in args
if cw and cc:
    print("torch.OutOfMemoryError: CUDA out of memory.")
    sys.exit(1)
total = 63.2 if cw else 51.5 if cc else 44.8 if pct == "0 100 0 100 100 0".split() else 57.0
print("total latency: 100.000 s\\ttotal throughput: %.3f token/s" % total)
"""


class ReportEndToEndTest(unittest.TestCase):
    def test_the_json_and_table_name_the_best_compressed_and_uncompressed_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = os.path.join(tmp, "fake_python")
            with open(fake, "w") as f:
                f.write(f"#!{sys.executable}\n" + FAKE_FLEXGEN)
            os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
            out = os.path.join(tmp, "out")
            r = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_compare.py"),
                                "--python", fake, "--skip-ours", "--models", "opt-13b",
                                "--prompt-lens", "512", "--gen-lens", "32", "--budgets", "24",
                                "--host-mem-gib", "101", "--gpu-total-gib", "79.1",
                                "--out", out], capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(out, "bench_compare.json")) as f:
                rep = json.load(f)
            with open(os.path.join(out, "bench_compare.md")) as f:
                table = f.read()
        res = rep["results"][0]
        self.assertEqual(res["flexgen_best"]["metrics"]["total_tokens_per_s"], 63.2)
        self.assertTrue(res["flexgen_best_compressed"])
        self.assertEqual(res["flexgen_best_compress"], "weight")
        self.assertTrue(res["flexgen_best_config"].endswith(", 4-bit weights"),
                        res["flexgen_best_config"])
        self.assertEqual(res["flexgen_best_uncompressed"]["metrics"]["total_tokens_per_s"], 57.0)
        self.assertFalse(res["flexgen_best_uncompressed"]["compress"])
        runs = rep["runs"]
        self.assertTrue(any(x["compress"] == "weight+cache" and x["reason"] == "OOM"
                            and "--compress-cache" in x["cmd"] for x in runs if "compress" in x))
        self.assertTrue(all(("--compress-weight" in x["cmd"]) == ("weight" in x.get("compress", ""))
                            for x in runs))
        self.assertIn("| FlexGen best tok/s (config) | FlexGen best uncompressed tok/s (split) |",
                      table)
        self.assertIn("| 63.2 (", table)
        self.assertIn("4-bit weights) | 57.0 (", table)


if __name__ == "__main__":
    unittest.main()
