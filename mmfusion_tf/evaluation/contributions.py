"""`modality_contributions`: how much weight each modality gets, and what removing it costs.

Two views per modality: the mean of the model's `fusion_weights` output
(for weighted-sum fusion the fixed or learned weights; for attention and
gated fusion the mean attention/gate weights), and the change of a metric
when the modality is removed.

How a modality is removed (`removed_via`):

- `"presence_mask"` (models with `<name>_present` inputs,
  `config.presence_inputs`): its presence input is set to 0; the fusion
  layer then ignores it, as for a modality really missing at serving time.
- `"mean_replacement"` (models without presence inputs): every input of the
  modality is replaced by a neutral value, the same for every example, in
  the input's own units (never a raw zero in data units, which for a column
  such as latitude ≈ 42 would be an input far outside anything seen in
  training):

  - numeric table column: its training mean, the first entry of
    `TabularModality.numeric_stats[column]` (`[mean, variance]`, learned on
    the training split); it standardises to 0. A column without statistics
    gets the mean of the evaluated data instead (NaN, i.e. missing, if it
    has no values), and is listed in the result's `means_from_data`;
  - categorical table column: `""`, the value the encoder's `StringLookup`
    sends to its out-of-vocabulary bucket, as for a missing value (the
    config keeps only the vocabulary, not the most frequent value);
  - text: the empty string `""`;
  - image: a mid-grey image, every pixel at the middle of the [0, 255]
    range the image input takes (decoded pixels, see `ImageModality`):
    128 for integer arrays, 127.5 for float ones;
  - audio: silence, a waveform of zeros.

The result's `metric_change` is `removed - clean` in the metric's units,
with its sign; `better_is` ("higher" or "lower") says which sign hurts.
`metric_drop` is the same change signed so that positive means removing
the modality makes the metric worse (for "mae"/"rmse": the increase).

Example:

>>> contrib = modality_contributions(model, make_demo_data(num_examples=64), config)
>>> contrib["removed_via"], contrib["better_is"], sorted(contrib["modalities"]["image"])
('mean_replacement', 'higher', ['mean_weight', 'metric', 'metric_change', 'metric_drop', 'replaced_with'])
"""

import numpy as np

from mmfusion_tf.config import AudioModality, ImageModality, TabularModality, TextModality
from mmfusion_tf.evaluation.metrics import check_metric, head_metrics, metric_drop, score
from mmfusion_tf.training.metrics import lower_is_better
from mmfusion_tf.models.predictions import as_arrays, modality_inputs, predict

PRESENCE_MASK = "presence_mask"
MEAN_REPLACEMENT = "mean_replacement"
REMOVAL_MODES = (PRESENCE_MASK, MEAN_REPLACEMENT)
MID_GREY = {"integer": 128, "float": 127.5}  # middle of the [0, 255] pixel range


def neutral_inputs(features, modality):
    """The neutral value of each input of `modality` (see the module docstring), and the numeric
    columns whose mean had to come from `features` (no `numeric_stats`).

    Args:
        features: dict of numpy arrays (model inputs).
        modality: the modality config.

    Returns:
        `({input name: value}, [column, ...])`; values are plain Python
        floats, ints or strings, one per input (an image or audio input
        gets one value for every pixel or sample).

    Example:

    >>> table = TabularModality(name="geo", numeric_features=["lat"], numeric_stats={"lat": [42.3, 0.01]})
    >>> neutral_inputs({"lat": np.array([42.1, 42.5])}, table)
    ({'lat': 42.3}, [])
    """
    values, from_data = {}, []
    if isinstance(modality, TabularModality):
        for name in modality.numeric_features:
            stats = modality.numeric_stats.get(name)
            if stats is None:
                column = np.asarray(features[name], dtype="float64")
                values[name] = float(np.nanmean(column)) if not np.isnan(column).all() else float("nan")
                from_data.append(name)
            else:
                values[name] = float(stats[0])
        values.update({name: "" for name in modality.categorical_features})
    elif isinstance(modality, TextModality):
        values[modality.name] = ""
    elif isinstance(modality, ImageModality):
        pixels = np.asarray(features[modality.name])
        values[modality.name] = MID_GREY["integer" if np.issubdtype(pixels.dtype, np.integer) else "float"]
    elif isinstance(modality, AudioModality):
        values[modality.name] = 0.0
    else:
        raise TypeError(f"`modality` must be a modality config. Received: modality={modality!r}")
    return values, from_data


def remove_modality(features, modality, via, neutral=None):
    """A copy of `features` without `modality`: its presence set to 0, or its inputs replaced by
    their neutral values (`neutral_inputs`).

    Args:
        features: dict of numpy arrays (model inputs).
        modality: the modality config.
        via: "presence_mask" or "mean_replacement".
        neutral: optional `{input name: value}` of `neutral_inputs`, when
            already known (mean replacement only).

    Example:

    >>> remove_modality({"text": np.array(["a dog"], object)}, TextModality(name="text"), "mean_replacement")
    {'text': array([''], dtype=object)}
    """
    if via == PRESENCE_MASK:
        return {**features, f"{modality.name}_present": np.zeros_like(features[f"{modality.name}_present"])}
    if via != MEAN_REPLACEMENT:
        raise ValueError(f"`via` must be one of {list(REMOVAL_MODES)}. Received: via={via!r}")
    if neutral is None:
        neutral, _ = neutral_inputs(features, modality)
    return {**features, **{name: _filled(features[name], neutral[name]) for name in modality_inputs(modality)}}


def modality_contributions(model, data, config, metric=None, *, via=None, batch_size=64, clean_outputs=None):
    """Mean fusion weight and metric change of each modality when it is removed.

    Args:
        model: a model of `build_model(config)`.
        data: `tf.data.Dataset` of `(features, label)` or dict of arrays
            with a `"label"` key.
        config: its `ModelConfig`.
        metric: name of the metric (default "accuracy", or "rmse" for
            regression); see `metric_names`.
        via: how a modality is removed, "presence_mask" or
            "mean_replacement"; default: "presence_mask" when
            `config.presence_inputs`, else "mean_replacement".
        batch_size: int, examples per prediction batch.
        clean_outputs: optional outputs of the model on `data`, as
            `predict` returns them (not predicted again).

    Returns:
        `{"metric", "better_is", "clean", "removed_via", "modalities": {name:
        {"mean_weight", "metric", "metric_change", "metric_drop"}}}` with
        modalities in config order. `metric_change` is `metric - clean`
        (signed, in the metric's units), `better_is` is "higher" or
        "lower", and `metric_drop` is positive when removing the modality
        makes the metric worse. With mean replacement each modality also
        has `replaced_with` (`{input: neutral value}`) and the result has
        `means_from_data` (the numeric columns without `numeric_stats`,
        replaced by the mean of `data`).

    Example:

    >>> contrib = modality_contributions(model, val_data, config, metric="macro_f1")
    >>> contrib["modalities"]["text"]["metric_change"], contrib["better_is"]
    (-0.4, 'higher')
    """
    metric = check_metric(metric, config.head.task)
    via = _check_via(via, config)
    features, labels = as_arrays(data, config)
    outputs = clean_outputs if clean_outputs is not None else predict(model, features, batch_size)
    if "fusion_weights" not in outputs:
        raise ValueError(f"`model` has no 'fusion_weights' output. Received outputs: {sorted(outputs)}")
    clean = head_metrics(config.head.task, labels, outputs)[metric]
    mean_weights = outputs["fusion_weights"].mean(axis=0)

    modalities, means_from_data = {}, []
    for i, modality in enumerate(config.modalities):
        neutral = None
        if via == MEAN_REPLACEMENT:
            neutral, from_data = neutral_inputs(features, modality)
            means_from_data += from_data
        value = score(model, remove_modality(features, modality, via, neutral), labels, config, metric, batch_size)
        modalities[modality.name] = {
            "mean_weight": float(mean_weights[i]),
            "metric": value,
            "metric_change": None if clean is None or value is None else float(value - clean),
            "metric_drop": metric_drop(clean, value, metric),
            **({"replaced_with": neutral} if neutral is not None else {}),
        }
    result = {
        "metric": metric,
        "better_is": "lower" if lower_is_better(metric) else "higher",
        "clean": clean,
        "removed_via": via,
        "modalities": modalities,
    }
    if via == MEAN_REPLACEMENT:
        result["means_from_data"] = means_from_data
    return result


def _check_via(via, config):
    if via is None:
        return PRESENCE_MASK if config.presence_inputs else MEAN_REPLACEMENT
    if via not in REMOVAL_MODES:
        raise ValueError(f"`via` must be one of {list(REMOVAL_MODES)} or None. Received: via={via!r}")
    if via == PRESENCE_MASK and not config.presence_inputs:
        raise ValueError(
            "`via='presence_mask'` needs a model with presence inputs (config.presence_inputs=True); "
            "use via='mean_replacement' or None."
        )
    return via


def _filled(array, value):
    """An array of `array`'s shape filled with `value`: strings as an object array; numbers in
    `array`'s dtype when it holds them exactly, else float32."""
    array = np.asarray(array)
    if isinstance(value, str):
        return np.full(array.shape, value, dtype=object)
    dtype = array.dtype
    if dtype.kind not in "fiu" or (dtype.kind in "iu" and not float(value).is_integer()):
        dtype = np.dtype("float32")
    return np.full(array.shape, value, dtype=dtype)
