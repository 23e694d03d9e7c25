"""`calibrate`: fits a model's decision blend and temperature on validation data.

For every pattern of present modalities (all present, and with presence
inputs every non-empty subset), the model is run on the validation
examples with that presence mask; the weights of its heads (fused and
per-modality, absent ones excluded) and a temperature are fitted by
minimising the validation loss (cross-entropy; regression: squared error,
no temperature), starting from "fused head only". Weights that do not
lower the loss below the fused head's (with its temperature) are not
kept. The result is written into the model's `DecisionBlend` layer, so it
is saved, exported and served with the model.

Example:

>>> summary = calibrate(model, config, val_ds)
>>> summary["patterns"]["image+audio"]["weights"]
{'image': 0.12, 'audio': 0.03, 'fused': 0.85}
"""

import itertools

import numpy as np
import tensorflow as tf

from mmfusion_tf.models.predictions import as_arrays, predict


MAX_PATTERN_MODALITIES = 4  # 2**M - 1 passes over the validation data; beyond this only "all present"


def presence_patterns(config):
    """The presence patterns to fit: tuples of present modality names (all present first)."""
    names = config.modality_names
    if not config.presence_inputs or len(names) > MAX_PATTERN_MODALITIES:
        return [tuple(names)]
    patterns = [tuple(names)]
    for size in range(len(names) - 1, 0, -1):
        patterns += list(itertools.combinations(names, size))
    return patterns


def pattern_index(config, pattern):
    """The `DecisionBlend` row of a pattern: sum of 2**k over its present modalities k."""
    return sum(2 ** k for k, name in enumerate(config.modality_names) if name in pattern)


def _task_loss(task, outputs, labels):
    if task == "multiclass":
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, outputs))
    if task in ("binary", "multilabel"):
        labels = tf.reshape(tf.cast(labels, tf.float32), tf.shape(outputs))
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs))
    return tf.reduce_mean(tf.square(tf.reshape(outputs, [-1]) - tf.reshape(tf.cast(labels, tf.float32), [-1])))


def fit_blend(heads, labels, task, steps=300, learning_rate=0.05):
    """Simplex weights over `heads` `[N, H, K]` (last = fused) and a temperature, by validation loss.

    Returns `(weights [H], temperature, loss)`; starts at "fused head only"
    and uses the temperature only for classification.

    Example:

    >>> weights, temperature, loss = fit_blend(np.stack([image, fused], 1), labels, "multiclass")
    """
    heads = tf.constant(heads, tf.float32)
    labels = tf.constant(labels, tf.int32 if task == "multiclass" else tf.float32)
    params, loss = _optimise(heads, labels, task, tf.constant(steps), tf.constant(learning_rate, tf.float32))
    weights = tf.nn.softmax(params[:-1]).numpy()
    temperature = float(tf.exp(params[-1])) if task != "regression" else 1.0
    return weights, temperature, float(loss)


def _blend_loss(params, heads, labels, task):
    weights = tf.nn.softmax(params[:-1])
    blended = tf.reduce_sum(weights[None, :, None] * heads, axis=1)
    if task != "regression":
        blended = blended / tf.exp(params[-1])
    return _task_loss(task, blended, labels)


@tf.function(reduce_retracing=True)
def _optimise(heads, labels, task, steps, learning_rate):
    """Adam on `[head scores..., log temperature]` (one trace per task kind, whatever the shapes)."""
    count = tf.shape(heads)[1]
    params = tf.concat([tf.zeros([count - 1]), [3.0], [0.0]], axis=0)  # "fused head only", temperature 1
    first, second = tf.zeros_like(params), tf.zeros_like(params)
    for step in tf.range(1, steps + 1):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = _blend_loss(params, heads, labels, task)
        grad = tape.gradient(loss, params)
        first = 0.9 * first + 0.1 * grad
        second = 0.999 * second + 0.001 * tf.square(grad)
        t = tf.cast(step, tf.float32)
        update = (first / (1.0 - 0.9 ** t)) / (tf.sqrt(second / (1.0 - 0.999 ** t)) + 1e-7)
        params = params - learning_rate * update
    return params, _blend_loss(params, heads, labels, task)


def calibrate(model, config, data, batch_size=64):
    """Fits the model's `DecisionBlend` on `data` (validation); returns a summary.

    Args:
        model: a `build_model(config)` model (classification, or with modality heads).
        config: its `ModelConfig`.
        data: labelled validation data (`tf.data.Dataset` of `(features, label)`, a dict with
            "label", or a pair).
        batch_size: int, prediction batch size.

    Returns:
        `{"patterns": {"<present names joined by +>": {"weights": {head: w}, "temperature",
        "loss", "loss_fused_only"}}}`, or None when the model has no blend to fit
        (a regression model without modality heads).
    """
    try:
        blend = model.get_layer("decision_blend")
    except ValueError:
        return None
    features, labels = as_arrays(data, config)
    task = config.head.task
    names = config.modality_names
    modality_key = "modality_predictions" if task == "regression" else "modality_logits"
    fused_key = "fused_prediction" if task == "regression" else "fused_logits"
    table = blend.blend_weights.numpy()
    temperatures = blend.temperature.numpy()
    summary = {}
    for pattern in presence_patterns(config) if blend.num_modalities else [tuple(names)]:
        inputs = dict(features)
        if config.presence_inputs:
            for name in names:
                inputs[f"{name}_present"] = np.full(len(labels), float(name in pattern), "float32")
        outputs = predict(model, inputs, batch_size=batch_size)
        if blend.num_modalities:
            present = [k for k, name in enumerate(names) if name in pattern]
            heads = np.concatenate([outputs[modality_key][:, present], outputs[fused_key][:, None]], axis=1)
        else:
            heads = np.asarray(outputs["logits"])[:, None] * temperatures[0]  # undo the current temperature
        fused_only = fit_blend(heads[:, -1:], labels, task)
        weights, temperature, loss = fit_blend(heads, labels, task)
        if loss > fused_only[2]:  # keep the fused head alone when the blend does not help
            weights, temperature, loss = np.r_[np.zeros(len(weights) - 1), 1.0], fused_only[1], fused_only[2]
        row = pattern_index(config, pattern) if blend.num_modalities else 0
        if blend.num_modalities:
            table[row] = 0.0
            table[row, present] = weights[:-1]
            table[row, -1] = weights[-1]
        temperatures[row] = temperature
        head_names = [names[k] for k in present] if blend.num_modalities else []
        summary["+".join(pattern)] = {
            "weights": {n: round(float(w), 4) for n, w in zip(head_names + ["fused"], weights)},
            "temperature": round(float(temperature), 4), "loss": round(loss, 5),
            "loss_fused_only": round(fused_only[2], 5),
        }
    blend.set_blend(table, temperatures)
    return {"patterns": summary}
