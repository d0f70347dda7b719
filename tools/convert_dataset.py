#!/usr/bin/env python3
"""Turns prompts from CSV, plain text or JSONL into HybridServe's input format.

HybridServe reads JSONL with one request per line: {"id": "...", "prompt": "text"}. This script
converts the usual sources into that:

  CSV     one prompt per row, from the column named by --column (a header row is required);
          ids from --id-column, or the row's line number
  text    one prompt per line; ids are line numbers
  JSONL   one object per line, the prompt in --field; ids from --id-field, or line numbers

Empty prompts (blank lines, empty cells) are skipped. A row that cannot be used (bad JSON, a
missing field, text that is not UTF-8, a duplicate id) is reported on stderr with its line
number and left out; the other rows are still written, and the exit code is 1.

Examples:
  tools/convert_dataset.py questions.csv --column question --id-column qid -o questions.jsonl
  tools/convert_dataset.py prompts.txt --id-prefix p- > prompts.jsonl
  tools/convert_dataset.py dump.jsonl --field text --id-field uuid -o prompts.jsonl
"""

import argparse
import csv
import io
import json
import os
import sys

FORMATS = ("csv", "text", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "text", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class BadRow(Exception):
    """A row that cannot become a request; the message says why."""


def guess_format(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise SystemExit(
            f"{path}: cannot tell the format from the extension '{ext}'; "
            f"pass --format ({', '.join(FORMATS)})")
    return EXTENSIONS[ext]


def decode_line(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRow(f"not valid UTF-8 at byte {e.start}") from None


def read_text(data, args):
    """Yields (line number, id or None, prompt or BadRow) for a file of one prompt per line."""
    for number, raw in enumerate(data.splitlines(keepends=False), start=1):
        try:
            text = decode_line(raw)
        except BadRow as e:
            yield number, None, e
            continue
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        if not text.strip():
            continue
        yield number, None, text


def read_jsonl(data, args):
    for number, raw in enumerate(data.splitlines(keepends=False), start=1):
        try:
            line = decode_line(raw)
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise BadRow(f"invalid JSON: {e.msg} at column {e.colno}") from None
            if not isinstance(obj, dict):
                raise BadRow("expected a JSON object")
            if args.field not in obj:
                raise BadRow(f"no field '{args.field}'")
            prompt = obj[args.field]
            if not isinstance(prompt, str):
                raise BadRow(f"field '{args.field}' is {type(prompt).__name__}, not a string")
            row_id = None
            if args.id_field:
                if args.id_field not in obj:
                    raise BadRow(f"no id field '{args.id_field}'")
                row_id = id_text(obj[args.id_field], args.id_field)
        except BadRow as e:
            yield number, None, e
            continue
        if prompt.strip():
            yield number, row_id, prompt


def read_csv(data, args):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # Say which line: count the newlines before the bad byte.
        line = data[: e.start].count(b"\n") + 1
        raise SystemExit(f"{args.input}:{line}: not valid UTF-8; the CSV was not converted")
    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise SystemExit(f"{args.input}: empty CSV (a header row naming the columns is needed)")
    except csv.Error as e:
        raise SystemExit(f"{args.input}:1: bad CSV header: {e}")

    def column(name, option):
        if name not in header:
            raise SystemExit(f"{args.input}: no column '{name}' ({option}); the header has: "
                             + ", ".join(repr(h) for h in header))
        return header.index(name)

    prompt_col = column(args.column, "--column")
    id_col = column(args.id_column, "--id-column") if args.id_column else None
    while True:
        number = reader.line_num + 1  # where the next record starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield number, None, BadRow(f"bad CSV: {e}")
            return  # the reader cannot resynchronise after a broken quote
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield number, None, BadRow(f"{len(row)} cells, but the header has {len(header)}")
            continue
        prompt = row[prompt_col]
        if not prompt.strip():
            continue
        yield number, (row[id_col] if id_col is not None else None), prompt


def id_text(value, field):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRow(f"id field '{field}' is {type(value).__name__}, not a string or integer")
    text = str(value)
    if not text.strip():
        raise BadRow(f"id field '{field}' is empty")
    return text


def convert(args, out, err):
    """Writes the requests; returns (rows written, rows rejected)."""
    with open(args.input, "rb") as f:
        data = f.read()
    fmt = args.format or guess_format(args.input)
    if fmt == "csv" and not args.column:
        raise SystemExit("CSV input needs --column NAME (the column holding the prompt)")
    if fmt != "csv" and (args.column or args.id_column):
        raise SystemExit("--column and --id-column are for CSV input")
    if fmt != "jsonl" and args.id_field:
        raise SystemExit("--id-field is for JSONL input")
    reader = {"csv": read_csv, "text": read_text, "jsonl": read_jsonl}[fmt]

    seen = {}
    written = rejected = 0
    for number, row_id, prompt in reader(data, args):
        if isinstance(prompt, BadRow):
            print(f"{args.input}:{number}: {prompt}", file=err)
            rejected += 1
            continue
        row_id = row_id if row_id is not None else f"{args.id_prefix}{number}"
        if row_id in seen:
            print(f"{args.input}:{number}: duplicate id '{row_id}' (first on line {seen[row_id]})",
                  file=err)
            rejected += 1
            continue
        seen[row_id] = number
        out.write(json.dumps({"id": row_id, "prompt": prompt}, ensure_ascii=False) + "\n")
        written += 1
        if args.limit and written >= args.limit:
            break
    return written, rejected


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="the file to convert (.csv/.tsv, .txt, .jsonl)")
    parser.add_argument("-o", "--output", help="where to write the JSONL (default: stdout)")
    parser.add_argument("--format", choices=FORMATS,
                        help="input format (default: from the file extension)")
    parser.add_argument("--column", help="CSV: the column holding the prompt")
    parser.add_argument("--id-column", help="CSV: the column holding the request id")
    parser.add_argument("--delimiter", default=",",
                        help="CSV: the cell separator (default ','; '\\t' or 'tab' for TSV)")
    parser.add_argument("--field", default="prompt",
                        help="JSONL: the field holding the prompt (default: prompt)")
    parser.add_argument("--id-field", help="JSONL: the field holding the request id")
    parser.add_argument("--id-prefix", default="",
                        help="prefix for ids made from line numbers (default: none, e.g. '17')")
    parser.add_argument("--limit", type=int, default=0,
                        help="stop after this many prompts (default: all)")
    args = parser.parse_args(argv)
    if args.input.endswith(".tsv") and args.delimiter == ",":
        args.delimiter = "\t"

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        written, rejected = convert(args, out, sys.stderr)
    finally:
        if args.output:
            out.close()
    print(f"{written} prompts written, {rejected} rows rejected", file=sys.stderr)
    return 1 if rejected else 0


if __name__ == "__main__":
    sys.exit(main())
