#!/usr/bin/env python3
"""Trains two small byte-level BPE tokenizers and writes HF parity goldens for the C++ tokenizer.

The C++ tokenizer (src/model/tokenizer.*) must give the same ids and decoded text as the
Hugging Face `tokenizers` library. This script is the outside reference: it trains

  tests/tokenizers/gpt2-style/    GPT-2 / OPT style (ByteLevel pre-tokenizer with the GPT-2
                                  regex, <s> <pad> </s> <unk> at ids 0..3, "</s> $A" template
                                  like OPT's converted tokenizer)
  tests/tokenizers/llama3-style/  LLaMA-3 style (Split with the LLaMA-3 regex, ByteLevel without
                                  regex, ignore_merges, <|begin_of_text|> template)

on licensed text that ships with Debian (see tests/tokenizers/README.md), then encodes a few
hundred strings with both and writes tests/tokenizers/goldens.json. Variants (patches of
keys of tokenizer.json: other pre-tokenizer options, Split behaviours, added-token options,
post-processors, merge options) are encoded on a subset of the strings.

Usage:  python3 tools/make_tokenizer_goldens.py [--out tests/tokenizers]
Needs:  pip install tokenizers   (and optionally transformers, for a cross-check)
"""

import argparse
import copy
import gettext
import glob
import json
import os
import random
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

LICENSE_TEXTS = ["GPL-3", "Apache-2.0", "LGPL-2.1", "MPL-2.0", "GFDL-1.3", "Artistic", "GPL-2"]
# iso-codes ships country names translated into ~150 languages: real text in many scripts
# (CJK, Arabic, Cyrillic, Devanagari, Greek, ...), LGPL-2.1+.
ISO_CODES_GLOB = "/usr/share/locale/*/LC_MESSAGES/iso_3166-1.mo"

LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
VOCAB_SIZE = 2000


def corpus_lines():
    lines = []
    for name in LICENSE_TEXTS:
        with open(os.path.join("/usr/share/common-licenses", name), encoding="utf-8") as f:
            lines.extend(f.read().splitlines())
    for path in sorted(glob.glob(ISO_CODES_GLOB)):
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # msgid -> translated country name
        lines.extend(v for k, v in sorted(catalog.items()) if k and isinstance(v, str))
    if len(lines) < 1000:
        sys.exit("training text not found: expected /usr/share/common-licenses and iso-codes")
    return lines


def train_gpt2_style(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    # What transformers' GPT2Converter writes for OPT (add_bos_token with bos "</s>").
    tok.post_processor = processors.TemplateProcessing(
        single="</s>:0 $A:0", pair="</s>:0 $A:0 $B:1", special_tokens=[("</s>", 2)]
    )
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": True,
        "add_prefix_space": False,
        "bos_token": "</s>",
        "eos_token": "</s>",
        "unk_token": "</s>",
        "pad_token": "<pad>",
        "errors": "replace",
    }
    return tok, config


def train_llama3_style(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    # LLaMA-3 appends its special tokens after the BPE vocabulary.
    tok.add_special_tokens(
        [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>",
            "<|eot_id|>",
        ]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A:0",
        pair="<|begin_of_text|> $A:0 <|begin_of_text|>:1 $B:1",
        special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))],
    )
    as_json = json.loads(tok.to_str())
    as_json["model"]["ignore_merges"] = True  # LLaMA-3's tokenizer.json sets it
    tok = Tokenizer.from_str(json.dumps(as_json))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|end_of_text|>",
        "model_max_length": 131072,
    }
    return tok, config


# ---------------------------------------------------------------------------------------------
# Test strings. Written for this file (no copied text); each line of the lists is one case.

BASE_STRINGS = [
    "",
    "Hello world",
    "hello world",
    "Hello, world!",
    " Hello world",
    "  leading two spaces",
    "trailing space ",
    "trailing spaces   ",
    "   ",
    " ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    "a\r\nb",
    "tab\tseparated\tvalues",
    "mixed \t\n whitespace \n\t run",
    "line one\nline two\n\nline four\n",
    "    indented code\n        more indented\n",
    "def f(x):\n    return x * 2\n",
    "spaces    inside     words",
    "ends with newline and spaces  \n  ",
    "It's a test. Isn't it? We're sure they've gone, I'm told you'll see, he'd know.",
    "IT'S LOUD. ISN'T IT? WE'RE, THEY'VE, I'M, YOU'LL, HE'D",
    "It'S mIxEd'T cAsE'Re",
    "'s 't 're 've 'm 'll 'd",
    "don't can't won't shouldn't",
    "rock'n'roll o'clock",
    "the dog's bone's color",
    "‘curly’ “quotes” and 'straight' \"double\"",
    "The software is distributed under the terms of the license.",
    "Redistribution and use in source and binary forms, with or without modification.",
    "GNU GENERAL PUBLIC LICENSE",
    "0",
    "7",
    "42",
    "123",
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678901234567890",
    "3.14159265358979",
    "1,000,000 and 2.5e-10",
    "version 2.1 or later, section 13(b)",
    "call 555-0100 at 10:30pm on 2024-01-31",
    "abc123def4567",
    "x1 y22 z333 w4444",
    "١٢٣٤٥ Arabic-Indic digits",
    "ⅫⅣ roman numerals ½ ¾ ²",
    "café naïve résumé",
    "cafe\u0301 nai\u0308ve re\u0301sume\u0301",
    "Ångström ångström",
    "Å Å",
    "Straße, Øresund, Łódź, Ďábelské",
    "Ελληνικά γράμματα",
    "Привет, мир! Это тест.",
    "Україна, Беларусь, Қазақстан",
    "مرحبا بالعالم",
    "السلام عليكم ورحمة الله",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "日本語のテキスト",
    "東京都と大阪府",
    "中文测试，你好世界。",
    "繁體中文測試",
    "한국어 텍스트 안녕하세요",
    "カタカナとひらがな",
    "全角　スペース",
    "mixed 日本 and English",
    "😀",
    "😀😃😄",
    "emoji 🎉 party 🎊",
    "👍🏽 skin tone",
    "👨‍👩‍👧‍👦 family",
    "🏳️‍🌈 flag",
    "🇺🇸🇯🇵🇩🇪 flags",
    "❤️ heart with VS16",
    "keycap 1️⃣ 2️⃣",
    "math ∑∫∂√∞ ≤ ≥ ≠",
    "arrows → ← ↑ ↓ ⇒",
    "currency $ € £ ¥ ₹ ₿",
    "symbols © ® ™ § ¶ †",
    "punctuation!!! ??? ... ---",
    "a-b_c.d/e\\f|g",
    "<html><body>x</body></html>",
    "https://example.org/path?q=1&r=2#frag",
    "user@example.com",
    "{\"json\": [1, 2, 3]}",
    "C:\\Program Files\\App",
    "#include <stdio.h>",
    "x += y; // comment",
    "!!!",
    "...",
    "___",
    "a",
    "A",
    "ab",
    "Ġ",
    "Ċ",
    "ĠĠ",
    "\u00a0non-breaking\u00a0space",
    "zero\u200bwidth\u200bspace",
    "next\u0085line",
    "mongolian\u180evowel",
    "ideographic\u3000space",
    "em\u2003space and thin\u2009space",
    "line\u2028separator",
    "soft\u00adhyphen",
    "bom\ufeffinside",
    "control\x01\x02\x7fchars",
    "nul\x00byte",
    "tab\x0bvertical\x0cfeed",
    "replacement \ufffd char",
    "private \ue000 use",
    "astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math",
    "ſ long s and 'ſ",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "İstanbul ı i I",
    "Kelvin K sign",
    "ﬁ ligature ﬀ",
    "ｆｕｌｌｗｉｄｔｈ",
    "¡Hola! ¿Qué tal?",
    "Ça va? Où êtes-vous?",
    "Zürich, Köln, Düsseldorf",
]

SPECIAL_STRINGS = {
    "gpt2-style": [
        "hello</s>world",
        "</s>",
        "<s>",
        "<s>hello</s>",
        "<pad><pad>",
        "<unk>",
        "a <s> b </s> c",
        " </s> ",
        "</s></s>",
        "<s></s><pad><unk>",
        "</ s>",
        "<s",
        "x</s",
        "</s>\n</s>",
        "tokens <s>mid</s>dle",
    ],
    "llama3-style": [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "hello<|end_of_text|>world",
        "<|begin_of_text|>Hello<|eot_id|>",
        "a <|reserved_special_token_0|> b <|reserved_special_token_1|> c",
        "<|end_of_text|><|end_of_text|>",
        " <|eot_id|> ",
        "<|begin_of_text",
        "<|end_of_text|>\n\n",
        "<|reserved_special_token_2|>",
        "<|eot_id|>x<|eot_id|>",
        "text<|begin_of_text|>",
    ],
}


def generated_strings():
    out = []
    # Whitespace runs of every kind and length before and after a word.
    for ws in [" ", "  ", "   ", "\t", "\t\t", "\n", " \n", "\n ", " \n ", "\r\n\r\n", "\u3000"]:
        out.append(ws + "word")
        out.append("word" + ws)
        out.append("word" + ws + "word")
        out.append(ws * 3)
    # Contractions in all cases, after a word and standalone.
    for c in ["s", "t", "re", "ve", "m", "ll", "d"]:
        for form in [c, c.upper(), c.capitalize()]:
            out.append("it'" + form)
            out.append("x '" + form + " y")
    # Digit runs of every length up to 20 (LLaMA-3 cuts them in groups of three).
    for n in range(1, 21):
        out.append("".join(str((i * 7 + 3) % 10) for i in range(n)))
        out.append("n=" + "9" * n + "!")
    return out


def random_strings(rng, count):
    pool = (
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + list("     \t\n\r.,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`")
        + list("éèêëàâäöüßçñÅøæœ")
        + list("\u0301\u0308\u0327")  # combining marks
        + list("日本語中文字한국어ひらがなカタカナ")
        + list("абвгдежзийклмнопрстуфхцчшщъыьэюяАБВ")
        + list("مرحباعلمسلا")
        + list("αβγδεζηθ")
        + ["😀", "🎉", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "\u200d", "\ufe0f"]
        + ["'s", "'T", "'re", "'ll", "123", "4567", "\u00a0", "\u3000", "\u2028", "\u0085"]
    )
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(pool) for _ in range(n)))
    return out


def long_line(rng):
    words = ["license", "software", "版本", "日本", "copy", "modify", "Привет", "123456", "😀"]
    parts = []
    while sum(len(p) for p in parts) < 6000:
        parts.append(rng.choice(words))
        parts.append(rng.choice([" ", "", ", ", "\t", "  "]))
    return "".join(parts)


def long_word(rng):
    """About 6000 characters without a space: one pre-token, merged all the way up. Words of
    4096 symbols and more take the C++ tokenizer's rank-bucket merge loop instead of its heap."""
    words = ["license", "software", "copy", "modify", "the", "program", "Terms", "version"]
    return "".join(rng.choice(words) for _ in range(1000))


# ---------------------------------------------------------------------------------------------
# Variants: patches of tokenizer.json ({"key": value} or {"key.subkey": value}, see apply_patch),
# applied by the C++ test the same way.


def variants(gpt2_json, llama_json):
    llama_re = {"Regex": LLAMA3_REGEX}
    byte_level_plain = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": False,
    }

    def split_then_bytes(pattern, behavior, invert=False, prefix_space=False):
        return {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert},
                dict(byte_level_plain, add_prefix_space=prefix_space),
            ],
        }

    # Added tokens with every option, given ids by HF itself (a token already in the vocabulary,
    # like "end", keeps its vocabulary id).
    with_options = Tokenizer.from_str(json.dumps(llama_json))
    with_options.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True),
                                     AddedToken("[SEP]", rstrip=True, special=True)])
    with_options.add_tokens([
        AddedToken("<both>", lstrip=True, rstrip=True, normalized=False, special=False),
        AddedToken("word", single_word=True, normalized=False, special=False),
        AddedToken("Hybrid", normalized=True, special=False),
        AddedToken("Hybrid Serve", normalized=False, special=False),
        AddedToken("end", normalized=True, single_word=True, rstrip=True, special=False),
    ])
    llama_added = json.loads(with_options.to_str())["added_tokens"]
    gpt2_pre = gpt2_json["pre_tokenizer"]
    return [
        ("gpt2-prefix-space", "gpt2-style",
         {"pre_tokenizer": dict(gpt2_pre, add_prefix_space=True)}),
        ("gpt2-roberta-post", "gpt2-style",
         {"post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                             "trim_offsets": True, "add_prefix_space": False}}),
        ("gpt2-template-bos-eos", "gpt2-style",
         {"post_processor": {"type": "Sequence", "processors": [
             {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
              "use_regex": True},
             {"type": "TemplateProcessing",
              "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "</s>", "type_id": 0}}],
              "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                       {"Sequence": {"id": "B", "type_id": 1}}],
              "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                 "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}]}}),
        ("gpt2-no-post", "gpt2-style", {"post_processor": None}),
        ("llama3-removed", "llama3-style",
         {"pre_tokenizer": split_then_bytes(llama_re, "Removed")}),
        ("llama3-merged-previous", "llama3-style",
         {"pre_tokenizer": split_then_bytes({"Regex": r"\s+"}, "MergedWithPrevious")}),
        ("llama3-merged-next", "llama3-style",
         {"pre_tokenizer": split_then_bytes({"Regex": r"\s+"}, "MergedWithNext")}),
        ("llama3-contiguous", "llama3-style",
         {"pre_tokenizer": split_then_bytes({"Regex": r"\p{N}"}, "Contiguous")}),
        ("llama3-inverted", "llama3-style",
         {"pre_tokenizer": split_then_bytes({"Regex": r"\p{L}+"}, "Isolated", invert=True)}),
        ("llama3-inverted-removed", "llama3-style",
         {"pre_tokenizer": split_then_bytes({"Regex": r"\s+"}, "Removed", invert=True)}),
        # Oniguruma syntax that PCRE2 reads differently: line anchors, (?m) as "dot matches
        # newline", \uHHHH, a ']' first in a class, \Z.
        ("llama3-oniguruma-syntax", "llama3-style",
         {"pre_tokenizer": split_then_bytes(
             {"Regex": r"^\s+|(?m:\p{N}.\p{N})|\p{L}+$|[]\u0021.]+|(?i:hybrid)|\p{N}+\Z"},
             "Isolated")}),
        ("llama3-string-pattern", "llama3-style",
         {"pre_tokenizer": split_then_bytes({"String": ". "}, "MergedWithPrevious")}),
        ("llama3-digits", "llama3-style",
         {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
             {"type": "Digits", "individual_digits": True},
             {"type": "Split", "pattern": llama_re, "behavior": "Isolated", "invert": False},
             byte_level_plain]}}),
        ("llama3-digits-grouped", "llama3-style",
         {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
             {"type": "Digits", "individual_digits": False}, byte_level_plain]}}),
        ("llama3-bytelevel-prefix", "llama3-style",
         {"pre_tokenizer": split_then_bytes(llama_re, "Isolated", prefix_space=True)}),
        ("llama3-no-ignore-merges", "llama3-style", {"model.ignore_merges": False}),
        # The last merge moved first: its tokens are now made by later merges, so ranks are not
        # monotone and the C++ tokenizer must keep to its heap even on the long word.
        ("llama3-nonmonotone-merges", "llama3-style",
         {"model.merges": [llama_json["model"]["merges"][-1]]
          + llama_json["model"]["merges"][:-1]}),
        ("llama3-added-options", "llama3-style", {"added_tokens": llama_added}),
    ]


VARIANT_STRINGS = [
    "",
    "Hello world",
    " Hello world ",
    "  two  spaces  ",
    "It's 12345 o'clock. Done. Next",
    "line one\nline two\n",
    "café cafe\u0301 日本語 😀 👨‍👩‍👧",
    "a <mask> b [SEP] c <both> d",
    "x<mask>y[SEP]z<both>w",
    "  <mask>  [SEP]  <both>  ",
    "word words sword word_ word! (word) wordy",
    "a word, word.word word\u0301 word",
    "Hybrid Serve HybridServe Hybrid  Serve",
    "the end endless end. end",
    "hello</s>world <s>x</s>",
    "hello<|end_of_text|>world <|eot_id|>",
    "1234567 89 0",
    "a1b22c333d4444",
    "tab\there. dot. space",
    "\t<mask>\t<mask>\t",
    "[SEP] [SEP]",
    "ends with spaces   ",
    "1\n2 x\n  3.4\nend]!!\nHyBrid 77\n12",
    "  indented\n\tline\nlast line",
]


def apply_patch(doc, patch):
    """Replaces the values at the patch's keys: "a.b" is doc["a"]["b"] (the C++ test does the
    same)."""
    doc = copy.deepcopy(doc)
    for key, value in patch.items():
        *parents, last = key.split(".")
        node = doc
        for p in parents:
            node = node[p]
        node[last] = value
    return doc


# ---------------------------------------------------------------------------------------------


def encode_cases(tok, strings):
    cases = []
    for s in strings:
        with_special = tok.encode(s, add_special_tokens=True).ids
        without = tok.encode(s, add_special_tokens=False).ids
        cases.append(
            {
                "text": s,
                "ids": with_special,
                "ids_no_special": without,
                "decoded": tok.decode(with_special, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(with_special, skip_special_tokens=True),
            }
        )
    return cases


def partial_decodes(tok, strings):
    """Decodes every prefix of the ids of multi-byte text: prefixes that end inside a character
    show how invalid UTF-8 is replaced (U+FFFD per maximal ill-formed subsequence)."""
    out = []
    for s in strings:
        ids = tok.encode(s, add_special_tokens=False).ids
        for n in range(1, len(ids) + 1):
            out.append({"ids": ids[:n], "decoded": tok.decode(ids[:n], skip_special_tokens=False)})
    return out


PARTIAL_STRINGS = ["日本語", "😀👍🏽", "café́", "Привет", "🇯🇵 x", "𝔘𝔫"]


def cross_check_transformers(model_dir, strings, tok):
    """Checks that transformers, which also reads tokenizer_config.json, agrees (no double BOS)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        print("transformers not installed: cross-check skipped")
        return
    try:
        hf = AutoTokenizer.from_pretrained(model_dir)
    except Exception as e:  # a transformers version that cannot read the dir: say so, go on
        print(f"transformers could not load {model_dir}: {e}")
        return
    bad = [s for s in strings if hf(s)["input_ids"] != tok.encode(s).ids]
    print(f"transformers cross-check {model_dir}: {len(strings) - len(bad)}/{len(strings)} agree")
    for s in bad[:5]:
        print("  differs:", repr(s), hf(s)["input_ids"][:8], tok.encode(s).ids[:8])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                      "tokenizers"))
    args = parser.parse_args()
    import tokenizers

    lines = corpus_lines()
    rng = random.Random(20240601)
    trained = {
        "gpt2-style": train_gpt2_style(lines),
        "llama3-style": train_llama3_style(lines),
    }
    as_json = {}
    styles = []
    for name, (tok, config) in trained.items():
        model_dir = os.path.join(args.out, name)
        os.makedirs(model_dir, exist_ok=True)
        tok.save(os.path.join(model_dir, "tokenizer.json"))
        with open(os.path.join(model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False)
            f.write("\n")
        as_json[name] = json.loads(tok.to_str())
        strings = (BASE_STRINGS + SPECIAL_STRINGS[name] + generated_strings()
                   + random_strings(rng, 120) + [long_line(rng), long_word(rng)])
        cross_check_transformers(model_dir, strings, tok)
        styles.append(
            {
                "name": name,
                "base": name,
                "patch": {},
                "vocab_size": tok.get_vocab_size(with_added_tokens=True),
                "cases": encode_cases(tok, strings),
                "partial_decodes": partial_decodes(tok, PARTIAL_STRINGS),
            }
        )

    variant_strings = VARIANT_STRINGS + random_strings(rng, 30)
    word = long_word(rng)
    for name, base, patch in variants(as_json["gpt2-style"], as_json["llama3-style"]):
        tok = Tokenizer.from_str(json.dumps(apply_patch(as_json[base], patch)))
        strings = variant_strings + ([word] if "model.merges" in patch else [])
        styles.append(
            {
                "name": name,
                "base": base,
                "patch": patch,
                "vocab_size": tok.get_vocab_size(with_added_tokens=True),
                "cases": encode_cases(tok, strings),
            }
        )

    goldens = {
        "generator": "tools/make_tokenizer_goldens.py",
        "tokenizers_version": tokenizers.__version__,
        "styles": styles,
    }
    path = os.path.join(args.out, "goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    total = sum(len(s["cases"]) for s in styles)
    print(f"wrote {path}: {len(styles)} tokenizers, {total} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
