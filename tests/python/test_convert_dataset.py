"""tools/convert_dataset.py on small hand-written inputs, run as users run it (a subprocess).

Run with:  python3 -m unittest discover -s tests/python   (stdlib only)
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                      "convert_dataset.py")


class ConvertDatasetTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path

    def run_script(self, *args):
        r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        return r.returncode, rows, r.stderr

    def test_csv_with_id_column_and_quoted_multiline_cell(self):
        path = self.write("q.csv", 'qid,question,extra\n'
                                   'a1,"What is 2+2?",x\n'
                                   'a2,"Line one\nline two, with comma",y\n'
                                   'a3,,z\n'
                                   'a4,"He said ""hi""",w\n')
        code, rows, err = self.run_script(path, "--column", "question", "--id-column", "qid")
        self.assertEqual(code, 0, err)
        self.assertEqual(rows, [
            {"id": "a1", "prompt": "What is 2+2?"},
            {"id": "a2", "prompt": "Line one\nline two, with comma"},
            {"id": "a4", "prompt": 'He said "hi"'},
        ])

    def test_csv_ids_are_line_numbers_and_short_rows_are_reported(self):
        path = self.write("q.csv", "question,answer\nfirst,1\nsecond\nthird,3\n")
        code, rows, err = self.run_script(path, "--column", "question", "--id-prefix", "q")
        self.assertEqual(code, 1)
        self.assertEqual(rows, [{"id": "q2", "prompt": "first"}, {"id": "q4", "prompt": "third"}])
        self.assertIn("q.csv:3: 1 cells, but the header has 2", err)

    def test_csv_unknown_column_names_the_header(self):
        path = self.write("q.csv", "question,answer\nx,y\n")
        code, rows, err = self.run_script(path, "--column", "prompt")
        self.assertEqual(code, 1)
        self.assertEqual(rows, [])
        self.assertIn("no column 'prompt'", err)
        self.assertIn("'question', 'answer'", err)

    def test_tsv(self):
        path = self.write("q.tsv", "id\ttext\n7\ttab separated, with comma\n")
        code, rows, err = self.run_script(path, "--column", "text", "--id-column", "id")
        self.assertEqual(code, 0, err)
        self.assertEqual(rows, [{"id": "7", "prompt": "tab separated, with comma"}])

    def test_text_skips_blank_lines_and_keeps_line_numbers(self):
        path = self.write("p.txt", "\ufefffirst prompt\n\n   \nsecond  prompt  \r\nthird\n")
        code, rows, err = self.run_script(path)
        self.assertEqual(code, 0, err)
        self.assertEqual(rows, [
            {"id": "1", "prompt": "first prompt"},
            {"id": "4", "prompt": "second  prompt  "},
            {"id": "5", "prompt": "third"},
        ])
        self.assertIn("3 prompts written, 0 rows rejected", err)

    def test_text_with_invalid_utf8_line(self):
        path = self.write("p.txt", b"good\nbad \xff byte\nalso good\n")
        code, rows, err = self.run_script(path)
        self.assertEqual(code, 1)
        self.assertEqual([r["id"] for r in rows], ["1", "3"])
        self.assertIn("p.txt:2: not valid UTF-8 at byte 4", err)

    def test_jsonl_field_id_field_and_bad_rows(self):
        lines = [
            '{"uuid": "u1", "text": "hello"}',
            "not json",
            '{"uuid": "u3", "body": "no text field"}',
            '{"uuid": "u4", "text": 42}',
            "",
            '["an", "array"]',
            '{"uuid": "u1", "text": "duplicate id"}',
            '{"uuid": 9, "text": "integer id, unicode: 日本語 😀"}',
            '{"uuid": "u10", "text": ""}',
        ]
        path = self.write("d.jsonl", "\n".join(lines) + "\n")
        code, rows, err = self.run_script(path, "--field", "text", "--id-field", "uuid")
        self.assertEqual(code, 1)
        self.assertEqual(rows, [
            {"id": "u1", "prompt": "hello"},
            {"id": "9", "prompt": "integer id, unicode: 日本語 😀"},
        ])
        self.assertIn("d.jsonl:2: invalid JSON", err)
        self.assertIn("d.jsonl:3: no field 'text'", err)
        self.assertIn("d.jsonl:4: field 'text' is int, not a string", err)
        self.assertIn("d.jsonl:6: expected a JSON object", err)
        self.assertIn("d.jsonl:7: duplicate id 'u1' (first on line 1)", err)
        self.assertIn("2 prompts written, 5 rows rejected", err)

    def test_output_file_and_limit(self):
        path = self.write("p.txt", "a\nb\nc\n")
        out = os.path.join(self.dir, "out.jsonl")
        code, rows, err = self.run_script(path, "-o", out, "--limit", "2")
        self.assertEqual(code, 0, err)
        self.assertEqual(rows, [])
        with open(out, encoding="utf-8") as f:
            self.assertEqual([json.loads(line)["prompt"] for line in f], ["a", "b"])

    def test_unknown_extension_asks_for_format(self):
        path = self.write("p.dat", "x\n")
        code, _, err = self.run_script(path)
        self.assertNotEqual(code, 0)
        self.assertIn("--format", err)
        code, rows, err = self.run_script(path, "--format", "text")
        self.assertEqual((code, rows), (0, [{"id": "1", "prompt": "x"}]), err)

    def test_help(self):
        r = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for option in ("--column", "--id-column", "--field", "--id-field", "--format", "--output"):
            self.assertIn(option, r.stdout)

    def test_shipped_datasets_are_valid(self):
        """Every file in datasets/ has unique ids and non-empty string prompts (or chat messages
        ending with a user's)."""
        root = os.path.join(os.path.dirname(SCRIPT), "..", "datasets")
        for name in sorted(os.listdir(root)):
            if not name.endswith(".jsonl"):
                continue
            with open(os.path.join(root, name), encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
            self.assertGreaterEqual(len(rows), 20, name)
            self.assertEqual(len({r["id"] for r in rows}), len(rows), name)
            for r in rows:
                if "messages" in r:
                    self.assertEqual(set(r), {"id", "messages"}, name)
                    self.assertEqual(r["messages"][-1]["role"], "user", name)
                    self.assertTrue(all(m["content"].strip() for m in r["messages"]), name)
                    continue
                self.assertEqual(set(r), {"id", "prompt"}, name)
                self.assertTrue(isinstance(r["prompt"], str) and r["prompt"].strip(), name)


if __name__ == "__main__":
    unittest.main()
