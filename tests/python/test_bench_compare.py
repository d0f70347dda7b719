"""tools/bench_compare.py: which runs the driver starts near its time limit, and its plan.

Run with:  python3 -m unittest discover -s tests/python   (stdlib only)
"""

import os
import subprocess
import sys
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import bench_compare as bc  # noqa: E402


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
                            "--gpu-total-gib", "79.1", "--flexgen-splits", "splits-first"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        plan = [line.split("plan: ", 1)[1] for line in r.stdout.splitlines() if "plan: " in line]
        self.assertEqual(len(plan), 3, plan)
        self.assertTrue(plan[0].startswith("ours auto opt-13b b128 p512 g32"), plan)
        self.assertTrue(plan[1].startswith("flexgen best opt-13b b128 p512 g32 @24 GiB"), plan)
        self.assertNotIn("candidates [none]", plan[1])
        self.assertTrue(plan[2].startswith("flexgen all-CPU opt-13b b128 p512 g32"), plan)


if __name__ == "__main__":
    unittest.main()
