#!/usr/bin/env python3
"""Rebuilds the sample datasets in this folder from licensed text on a Debian machine.

  python-docstrings.jsonl   150 short prompts: first paragraphs of Python 3.11 standard-library
                            docstrings (PSF License)
  python-modules-long.jsonl 40 long prompts (about 1-6 KB): whole module docstrings (PSF License)
  country-names.jsonl       about 120 prompts in 24 languages and 14 scripts: country names from
                            the iso-codes translations (LGPL-2.1-or-later)

Each source is written as JSONL with a "text" field and converted with tools/convert_dataset.py,
the same tool users run on their own data.

Usage: python3 datasets/make_samples.py   (Python 3.11; output depends on the Python version)
"""

import gettext
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(HERE, "..", "tools", "convert_dataset.py")

MODULES = [
    "builtins", "os", "os.path", "sys", "json", "re", "math", "cmath", "statistics", "random",
    "itertools", "functools", "operator", "collections", "heapq", "bisect", "string",
    "textwrap", "difflib", "datetime", "calendar", "time", "pathlib", "shutil", "glob",
    "fnmatch", "tempfile", "csv", "configparser", "hashlib", "hmac", "secrets", "base64",
    "binascii", "struct", "codecs", "unicodedata", "io", "pickle", "copy", "pprint", "enum",
    "dataclasses", "typing", "contextlib", "abc", "inspect", "argparse", "logging", "threading",
    "queue", "subprocess", "socket", "select", "urllib.parse", "html", "xml.etree.ElementTree",
    "zipfile", "tarfile", "gzip", "zlib", "sqlite3", "decimal", "fractions", "numbers",
    "array", "weakref", "types", "traceback", "warnings", "doctest", "unittest", "timeit",
    "uuid", "ipaddress", "email.message", "mimetypes", "locale", "gettext", "shlex",
]

LONG_MODULES = [
    "argparse", "ast", "chunk", "cmd", "codeop", "collections", "configparser", "copy", "csv",
    "dbm", "difflib", "doctest", "fileinput", "hashlib", "heapq", "inspect", "io", "json", "os",
    "plistlib", "pyclbr", "pydoc", "random", "re", "rlcompleter", "sched", "shelve", "site",
    "socket", "socketserver", "sqlite3", "statistics", "struct", "subprocess", "tempfile",
    "timeit", "tokenize", "typing", "unittest", "uuid", "wave",
]

# Locale of the iso-codes translation -> the language's English name (written here).
LANGUAGES = {
    "ja": "Japanese", "zh_CN": "Simplified Chinese", "zh_TW": "Traditional Chinese",
    "ko": "Korean", "ru": "Russian", "uk": "Ukrainian", "ar": "Arabic", "he": "Hebrew",
    "fa": "Persian", "hi": "Hindi", "bn": "Bengali", "ta": "Tamil", "th": "Thai",
    "el": "Greek", "ka": "Georgian", "hy": "Armenian", "tr": "Turkish",
    "vi": "Vietnamese", "de": "German", "fr": "French", "es": "Spanish", "pl": "Polish",
    "cs": "Czech", "sr": "Serbian",
}
COUNTRIES = [
    "Argentina", "Brazil", "Canada", "Egypt", "Ethiopia", "Finland", "Germany", "Greece",
    "India", "Indonesia", "Iceland", "Japan", "Kenya", "Mexico", "Mongolia", "Morocco",
    "Nepal", "New Zealand", "Norway", "Peru", "Portugal", "South Africa", "Switzerland",
    "Thailand", "Viet Nam",
]


def first_paragraph(doc):
    return " ".join(doc.split("\n\n")[0].split())


def docstring_prompts():
    seen, prompts = set(), []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in sorted(dir(module)):
            if attr.startswith("_"):
                continue
            obj = getattr(module, attr, None)
            if not (inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.isclass(obj)):
                continue
            doc = inspect.getdoc(obj)
            if not doc:
                continue
            text = first_paragraph(doc)
            if not 60 <= len(text) <= 400 or text in seen or text.startswith(attr + "("):
                continue
            seen.add(text)
            prompts.append(f"Python's {name}.{attr}: {text}")
    step = len(prompts) / 150
    return [prompts[int(i * step)] for i in range(150)]


def long_prompts():
    prompts = []
    for name in LONG_MODULES:
        doc = inspect.getdoc(importlib.import_module(name)) or ""
        if 800 <= len(doc) <= 8000:
            prompts.append(f"Summarize the documentation of Python's {name} module:\n\n{doc}\n")
    return prompts[:40]


def country_prompts():
    prompts = []
    for i, (locale, language) in enumerate(sorted(LANGUAGES.items())):
        path = f"/usr/share/locale/{locale}/LC_MESSAGES/iso_3166-1.mo"
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
        # Five countries per language, rotating so every country appears.
        for k in range(5):
            country = COUNTRIES[(i * 5 + k) % len(COUNTRIES)]
            name = catalog.get(country)
            if name and name != country:
                prompts.append(f"In {language}, a country is called \"{name}\". Its English name is")
    return prompts


def write_via_converter(prompts, name, id_prefix):
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "source.jsonl")
        with open(source, "w", encoding="utf-8") as f:
            for p in prompts:
                f.write(json.dumps({"text": p}, ensure_ascii=False) + "\n")
        out = os.path.join(HERE, name)
        subprocess.run([sys.executable, CONVERT, source, "--field", "text", "--id-prefix",
                        id_prefix, "-o", out], check=True)


def main():
    write_via_converter(docstring_prompts(), "python-docstrings.jsonl", "pydoc-")
    write_via_converter(long_prompts(), "python-modules-long.jsonl", "pymod-")
    write_via_converter(country_prompts(), "country-names.jsonl", "country-")


if __name__ == "__main__":
    main()
