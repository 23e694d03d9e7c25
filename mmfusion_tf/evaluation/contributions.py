"""`modality_contributions`: how much weight each modality gets, and what removing it costs.

Two views per modality: the mean of the model's `fusion_weights` output
(for weighted-sum fusion the fixed or learned weights; for attention and
gated fusion the mean attention/gate weights), and the drop of a metric
when the modality is removed. A model with `<name>_present` inputs (`config.presence_inputs`) is told
the modality is missing (`removed_via="presence_mask"`, the fusion layer
then ignores it); otherwise its inputs are replaced by zeros, or empty
strings for text and categorical columns (`removed_via="zeroed_input"`,
which still feeds the encoder a blank input).

Example:

>>> contrib = modality_contributions(model, make_demo_data(num_examples=64), config)
>>> contrib["removed_via"], sorted(contrib["modalities"]["image"])
('zeroed_input', ['mean_weight', 'metric', 'metric_drop'])
"""

import numpy as np

from mmfusion_tf.evaluation.metrics import check_metric, head_metrics, metric_drop, score
from mmfusion_tf.evaluation.predictions import as_arrays, is_text, modality_inputs, predict


def remove_modality(features, modality, via):
    """A copy of `features` without `modality`: presence set to 0, or inputs blanked.

    Args:
        features: dict of numpy arrays (model inputs).
        modality: the modality config.
        via: "presence_mask" or "zeroed_input".

    Example:

    >>> remove_modality({"text": np.array(["a dog"], object)}, TextModality(name="text"), "zeroed_input")
    {'text': array([''], dtype=object)}
    """
    if via == "presence_mask":
        return {**features, f"{modality.name}_present": np.zeros_like(features[f"{modality.name}_present"])}
    if via != "zeroed_input":
        raise ValueError(f"`via` must be one of ['presence_mask', 'zeroed_input']. Received: via={via!r}")
    blank = {}
    for name in modality_inputs(modality):
        value = features[name]
        blank[name] = np.full(value.shape, "", dtype=object) if is_text(value) else np.zeros_like(value)
    return {**features, **blank}


def modality_contributions(model, data, config, metric=None, *, batch_size=64, clean_outputs=None):
    """Mean fusion weight and metric drop of each modality.

    Args:
        model: a model of `build_model(config)`.
        data: `tf.data.Dataset` of `(features, label)` or dict of arrays
            with a `"label"` key.
        config: its `ModelConfig`.
        metric: name of the metric (default "accuracy", or "rmse" for
            regression); see `metric_names`.
        batch_size: int, examples per prediction batch.
        clean_outputs: optional outputs of the model on `data`, as
            `predict` returns them (not predicted again).

    Returns:
        `{"metric", "clean", "removed_via", "modalities": {name: {"mean_weight",
        "metric", "metric_drop"}}}` with modalities in config order;
        `metric_drop` is positive when removing the modality makes the
        metric worse (for "mae"/"rmse": the increase).

    Example:

    >>> contrib = modality_contributions(model, val_data, config, metric="macro_f1")
    >>> contrib["modalities"]["text"]["metric_drop"]
    0.4
    """
    metric = check_metric(metric, config.head.task)
    features, labels = as_arrays(data, config)
    outputs = clean_outputs if clean_outputs is not None else predict(model, features, batch_size)
    if "fusion_weights" not in outputs:
        raise ValueError(f"`model` has no 'fusion_weights' output. Received outputs: {sorted(outputs)}")
    clean = head_metrics(config.head.task, labels, outputs)[metric]
    mean_weights = outputs["fusion_weights"].mean(axis=0)
    via = "presence_mask" if config.presence_inputs else "zeroed_input"

    modalities = {}
    for i, modality in enumerate(config.modalities):
        value = score(model, remove_modality(features, modality, via), labels, config, metric, batch_size)
        modalities[modality.name] = {
            "mean_weight": float(mean_weights[i]),
            "metric": value,
            "metric_drop": metric_drop(clean, value, metric),
        }
    return {"metric": metric, "clean": clean, "removed_via": via, "modalities": modalities}
