"""The `mmfusion export` verb: a `.keras` model + its config -> `BASE/<version>/`.

Example:

    mmfusion export runs/fusion/model.keras --config model_config.yaml --base models/fusion \\
        --examples data/test.csv --check --report export.json
"""

import dataclasses
import json
import os
import sys

from mmfusion_tf._status import status_line
from mmfusion_tf.export.limits import AUDIO_INPUTS, Limits

DEFAULT_TOLERANCE = 1e-5
_LIMIT_HELP = {
    "max_batch_size": "most examples per request",
    "max_image_bytes": "largest encoded image",
    "max_image_pixels": "largest height x width declared by an image header",
    "max_text_length": "most UTF-8 characters per text",
    "max_audio_seconds": "longest audio, read from the WAV header",
    "min_audio_sample_rate": "lowest WAV sample rate (Hz)",
    "max_audio_sample_rate": "highest WAV sample rate (Hz)",
    "max_abs_numeric": "largest |value| of a numeric column (NaN = missing)",
}


def _check(model, config, path, examples, tolerance):
    """Parity diffs and the `saved_model_cli` listing; (ok, report dict)."""
    from mmfusion_tf.export.parity import parity_check, saved_model_cli_show
    from mmfusion_tf.export.signatures import input_signature
    from mmfusion_tf.export.saved_model import read_metadata

    with status_line(True, "parity: the Keras model against the SavedModel on the examples"):
        diffs = parity_check(model, config, path, examples)
    with status_line(True, "saved_model_cli show"):
        listing = saved_model_cli_show(path)
    expected = input_signature(config, read_metadata(path)["audio_input"])
    unlisted = [name for name in expected if f"['{name}']" not in listing]
    parity_ok = max(diffs.values()) <= tolerance
    for name, diff in diffs.items():
        print(f"  parity {name:<15} max |diff| {diff:.3g}" + ("" if diff <= tolerance else f"  > {tolerance:g}"))
    print("  saved_model_cli lists " + ("every input" if not unlisted else f"NOT {unlisted}") + " of serving_default")
    report = {"parity": diffs, "tolerance": tolerance, "parity_ok": parity_ok, "signature_listed": not unlisted}
    return parity_ok and not unlisted, report


def run_export(args):
    """`mmfusion export`: exit code 0 on success, 1 when `--check` fails."""
    from mmfusion_tf._keras import keras
    from mmfusion_tf.config import load_model_config
    from mmfusion_tf.export.saved_model import export_saved_model, read_metadata

    config = load_model_config(args.config)
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"Model file not found: {args.model}")
    with status_line(True, f"loading {args.model}"):
        model = keras.saving.load_model(args.model)
    limits = {f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)}
    with status_line(True, f"exporting to {args.base} (SavedModel, warmup requests)"):
        path = export_saved_model(model, config, args.base, args.version, examples=args.examples,
                                  audio_input=args.audio_input, overwrite=args.overwrite, **limits)
    metadata = read_metadata(path)
    text_ops = metadata["text_ops"]
    print(f"exported version {metadata['version']} to {path}")
    print(f"  warmup: {metadata['warmup']['records']} request(s) from {metadata['warmup']['source']} examples")
    missing = text_ops["missing_from_stock_serving"]
    print(f"  TF-Text ops: {', '.join(text_ops['tf_text_ops']) or 'none'}"
          + (f"; NOT in stock TF Serving: {missing}" if missing else ""))
    report = {"export": {"path": path, "version": metadata["version"]}, "text_ops": text_ops}
    code = 0
    if args.check:
        ok, report["check"] = _check(model, config, path, args.examples, args.tolerance)
        code = 0 if ok else 1
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    if code:
        print("mmfusion export: the check failed", file=sys.stderr)
    return code


def add_export_parser(verbs):
    """Registers the `export` verb on an argparse subparsers object; returns its parser."""
    defaults = Limits()
    parser = verbs.add_parser(
        "export",
        help="export a trained model for TensorFlow Serving (BASE/<version>/, raw-input signatures, warmup)",
        description="Writes BASE/<version>/ atomically: a SavedModel whose serving_default takes raw inputs "
        "(encoded images, UTF-8 text, WAV bytes or waveforms, table columns) and returns probabilities, class ids, "
        "label strings (regression: the value) and fusion weights, an `embedding` signature, warmup requests in "
        "assets.extra/ and a REST smoke request. --check reloads the export and compares it with the Keras model "
        "on the examples (max |diff| <= --tolerance) and runs saved_model_cli show.",
    )
    parser.add_argument("model", help="trained model file (.keras)")
    parser.add_argument("--config", required=True, help="model config YAML (or experiment YAML with model:)")
    parser.add_argument("--base", required=True, help="model base path; the version folder is created inside")
    parser.add_argument("--version", type=int, help="version number (default: next integer in BASE)")
    parser.add_argument("--examples", help="manifest (.csv/.tsv/.jsonl) of real inputs for warmup and --check")
    parser.add_argument("--check", action="store_true", help="parity check of the reloaded export + saved_model_cli")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="largest accepted |diff| in --check")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version folder")
    parser.add_argument("--audio-input", choices=AUDIO_INPUTS, default="wav",
                        help="audio as WAV bytes or float waveforms")
    for f in dataclasses.fields(Limits):  # --max-batch-size, --max-image-bytes, ... (docs/guide/serving.md)
        parser.add_argument("--" + f.name.replace("_", "-"), type=f.type, default=getattr(defaults, f.name),
                            help=_LIMIT_HELP.get(f.name, "") + " (default: %(default)s)")
    parser.add_argument("--report", metavar="PATH", help="also write the JSON report here")
    parser.set_defaults(func=run_export)
    return parser
