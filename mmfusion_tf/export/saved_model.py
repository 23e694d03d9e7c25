"""`export_saved_model`: a fusion model -> `BASE/<version>/`, ready for TensorFlow Serving.

The version folder holds `saved_model.pb`, `variables/` and `assets.extra/`
(`tf_serving_warmup_requests`, `smoke_request.json`, `mmfusion_export.json`).
It is written to a temporary folder inside BASE and renamed into place, so
a server polling BASE (it skips non-integer names) sees all of a version or
none of it.
"""

import dataclasses
import json
import os
import warnings

from mmfusion_tf._atomic import atomic_directory
from mmfusion_tf._validation import check_int
from mmfusion_tf.data.schema import fields_for
from mmfusion_tf.export import signatures
from mmfusion_tf.export.examples import raw_examples, synthetic_examples
from mmfusion_tf.export.limits import AUDIO_INPUTS, Limits
from mmfusion_tf.export.text_ops import text_ops_report
from mmfusion_tf.export.warmup import MAX_WARMUP_RECORDS, WARMUP_FILE, rest_request, write_warmup_requests

METADATA_FILE = "mmfusion_export.json"
SMOKE_REQUEST_FILE = "smoke_request.json"


def versions(base_dir):
    """Sorted integer versions present in `base_dir` (folders named by an integer)."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(n) for n in os.listdir(base_dir) if n.isdigit() and os.path.isdir(os.path.join(base_dir, n)))


def next_version(base_dir):
    """One more than the largest version in `base_dir`, or 1."""
    present = versions(base_dir)
    return present[-1] + 1 if present else 1


def _check_model(model, config):
    expected = sorted(config.input_names())
    inputs = getattr(model, "input", None)
    received = sorted(inputs) if isinstance(inputs, dict) else inputs
    if received != expected:
        raise ValueError(
            f"`model` does not match `config`: the model's inputs are {received}, the config's {expected}. "
            "Pass the config the model was built from."
        )


def _metadata(config, version, model_name, limits, audio_input, warmup, text_ops):
    import tensorflow as tf

    import mmfusion_tf

    specs = signatures.input_signature(config, audio_input)
    head = config.head
    return {
        "model_name": model_name,
        "version": version,
        "task": head.task,
        "labels": signatures.label_names(head) if head.task != "regression" else None,
        "modalities": config.modality_names,
        "inputs": {name: {"dtype": spec.dtype.name, "shape": spec.shape.as_list()} for name, spec in specs.items()},
        "audio_input": audio_input,
        "limits": dataclasses.asdict(limits),
        "signatures": [signatures.SERVING_SIGNATURE, signatures.EMBEDDING_SIGNATURE],
        "warmup": warmup,
        "text_ops": text_ops,
        "versions": {"mmfusion_tf": mmfusion_tf.__version__, "tensorflow": tf.__version__},
    }


def export_saved_model(
    model,
    config,
    base_dir,
    version=None,
    *,
    examples=None,
    audio_input="wav",
    warmup_records=16,
    overwrite=False,
    **limits,
):
    """Exports `model` as `base_dir/<version>/` with raw-input serving signatures.

    `serving_default` takes what clients have: encoded image bytes
    (JPEG/PNG/GIF/BMP, `tf.string [None]`), UTF-8 text, WAV bytes (or
    float32 `[None, None]` waveforms at the model's sample rate with
    `audio_input="waveform"`), numeric (`float32`) and categorical
    (`tf.string`) columns, and `<name>_present` flags when the model has
    presence inputs; an empty image/WAV value is a missing file (zeros, as
    in the data pipeline). It returns `probabilities`, `classes`, `labels`
    and `fusion_weights` (regression: `prediction`, `fusion_weights`). The
    `embedding` signature returns the fused features. Inputs above the
    limits fail with INVALID_ARGUMENT naming the input; image limits are
    checked on the header, before decoding.

    Warmup requests (one single-example `PredictRequest` per example, model
    name = the last folder of `base_dir`) come from the first
    `warmup_records` of `examples`, else from two synthetic examples; a
    server replays them all before the version is available, so a few are
    enough to initialise the graph. A warning lists TF-Text ops
    missing from stock TF Serving, if any.

    Args:
        model: the Keras model of `build_model(config)` (trained).
        config: its `ModelConfig`.
        base_dir: str, the model's base path (TF Serving `base_path`).
        version: positive int; default: the next integer in `base_dir`.
        examples: optional manifest path, dict of columns or DataFrame of
            real inputs (see `raw_examples`).
        audio_input: "wav" or "waveform".
        warmup_records: int in [1, 1000] (TF Serving's maximum), warmup
            requests to write (per signature).
        overwrite: bool, replace an existing version folder.
        **limits: fields of `Limits` to change, e.g. `max_batch_size=64`,
            `max_image_bytes`, `max_image_pixels`, `max_text_length`,
            `max_audio_seconds`, `min_audio_sample_rate`,
            `max_audio_sample_rate`, `max_abs_numeric`.

    Returns:
        str, the path of `base_dir/<version>`.

    Example:

    >>> path = export_saved_model(model, config, "models/fusion", examples="data/test.csv")
    >>> tf.saved_model.load(path).signatures["serving_default"](
    ...     image=tf.constant([png_bytes]), text=tf.constant(["a red car"]), ...)["labels"]
    """
    unknown = sorted(set(limits) - {f.name for f in dataclasses.fields(Limits)})
    if unknown:
        raise TypeError(f"export_saved_model() got unknown limits {unknown}; the limits are the fields of `Limits`.")
    limits = Limits(**limits).validate()
    if audio_input not in AUDIO_INPUTS:
        raise ValueError(f"`audio_input` must be one of {AUDIO_INPUTS}. Received: audio_input={audio_input!r}")
    _check_model(model, config)
    base_dir = os.path.abspath(os.fspath(base_dir))
    version = next_version(base_dir) if version is None else check_int("version", version, minimum=1, noun="int")
    path = os.path.join(base_dir, str(version))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"Version {version} already exists: {path}. Pass overwrite=True or another version.")

    if check_int("warmup_records", warmup_records, minimum=1) > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"`warmup_records` must be in [1, {MAX_WARMUP_RECORDS}]. Received: warmup_records={warmup_records}"
        )
    source = "examples" if examples is not None else "synthetic"
    columns = examples if examples is not None else synthetic_examples(config)
    raw = raw_examples(config, columns, audio_input, limit=warmup_records)
    model_name = os.path.basename(base_dir)
    binary = {f.name for f in fields_for(config) if f.kind == "image" or (f.kind == "audio" and audio_input == "wav")}

    with atomic_directory(path, overwrite) as tmp:
        signatures.write_saved_model(model, config, tmp, limits, audio_input)
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        signature_names = [signatures.SERVING_SIGNATURE, signatures.EMBEDDING_SIGNATURE]
        count = write_warmup_requests(
            os.path.join(extra, WARMUP_FILE), raw, model_name, signature_names=signature_names
        )
        with open(os.path.join(extra, SMOKE_REQUEST_FILE), "w", encoding="utf-8") as f:
            json.dump(rest_request(raw, binary), f)
        text_ops = text_ops_report(tmp)
        warmup = {"records": count, "signatures": signature_names, "source": source}
        metadata = _metadata(config, version, model_name, limits, audio_input, warmup, text_ops)
        with open(os.path.join(extra, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2)
    missing = text_ops["missing_from_stock_serving"]
    if missing:
        libraries = sorted({text_ops["libraries"][op] for op in missing})
        warnings.warn(
            f"The export uses TF-Text ops that stock TF Serving does not link: {missing} (libraries {libraries}). "
            "Serve it with a model server built with these kernels.",
            stacklevel=2,
        )
    return path


def read_metadata(export_path):
    """The `assets.extra/mmfusion_export.json` written by `export_saved_model`."""
    with open(os.path.join(export_path, "assets.extra", METADATA_FILE), encoding="utf-8") as f:
        return json.load(f)
