"""`robustness_curve`: a metric as noise grows on one modality, or on all (as in MultiBench).

At noise `level`, image, audio and numeric tabular inputs get Gaussian
noise with standard deviation `level` times the standard deviation of that
input over the whole data (integer images are rounded and clipped back to
their range); text gets word dropout with probability `min(level, 1)`, and
categorical columns lose their value (become "", i.e. missing) with the same
probability. Level 0 is the clean data. The noise of modality `i` at level
index `j` comes from `numpy.random.default_rng([seed, i, j])`, so curves are
deterministic, and the "all" curve uses the very noise of the single-modality
curves.

Example:

>>> result = robustness_curve(model, make_demo_data(num_examples=64), config, levels=(0, 0.5, 1.0))
>>> sorted(result["curves"]), len(result["curves"]["audio"])
(['all', 'audio', 'image', 'text'], 3)
"""

import numpy as np

from mmfusion_tf._validation import is_int, is_real
from mmfusion_tf.evaluation.metrics import check_metric, head_metrics, score
from mmfusion_tf.models.predictions import as_arrays, is_text, modality_inputs, predict

ALL = "all"


def gaussian_noise(array, level, rng, std=None):
    """`array` plus Gaussian noise of std `level * std(array)` (NaN-aware), same dtype.

    `std`: the NaN-aware standard deviation of `array`, when already known.

    Example:

    >>> gaussian_noise(np.array([0, 255], np.uint8), 0.5, np.random.default_rng(0)).dtype
    dtype('uint8')
    """
    array = np.asarray(array)
    values = array.astype("float64")
    std = input_std(values) if std is None else std
    noisy = values + rng.standard_normal(array.shape) * (level * std)
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        noisy = np.clip(np.rint(noisy), info.min, info.max)
    return noisy.astype(array.dtype)


def input_std(array):
    """The NaN-aware standard deviation of a numeric input (as a float64 array), the scale of its noise."""
    return float(np.nanstd(np.asarray(array, dtype="float64")))


def word_dropout(texts, probability, rng):
    """Each whitespace-separated word of each string dropped with `probability`.

    Example:

    >>> word_dropout(np.array(["the red car"], object), 1.0, np.random.default_rng(0))
    array([''], dtype=object)
    """
    texts = np.asarray(texts, dtype=object)
    words = [str(t).split() for t in texts.reshape(-1)]
    keep = iter(rng.random(sum(len(w) for w in words)) >= probability)
    dropped = [" ".join(word for word in w if next(keep)) for w in words]
    return np.array(dropped, dtype=object).reshape(texts.shape)


def add_noise(features, modality, level, rng, stds=None):
    """A copy of `features` with the inputs of `modality` perturbed at `level`.

    `stds`: optional `{input name: input_std}` of the numeric inputs, when already known.
    """
    noisy = dict(features)
    for name in modality_inputs(modality):
        value = features[name]
        if is_text(value):
            noisy[name] = word_dropout(value, min(float(level), 1.0), rng)
        else:
            noisy[name] = gaussian_noise(value, level, rng, std=(stds or {}).get(name))
    return noisy


def robustness_curve(
    model, data, config, levels=(0, 0.1, 0.25, 0.5, 1.0), seed=0, *, metric=None, batch_size=64, clean_outputs=None,
):
    """The metric at each noise level, per modality and for all modalities at once.

    Args:
        model: a model of `build_model(config)`.
        data: `tf.data.Dataset` of `(features, label)` or dict of arrays
            with a `"label"` key.
        config: its `ModelConfig`.
        levels: non-empty sequence of numbers >= 0.
        seed: int >= 0, seeds all noise.
        metric: name of the metric (default "accuracy", or "rmse" for
            regression); see `metric_names`.
        batch_size: int, examples per prediction batch.
        clean_outputs: optional outputs of the model on `data`, as
            `predict` returns them (not predicted again).

    Returns:
        `{"metric", "levels", "seed", "curves": {modality name: [value per
        level], ..., "all": [...]}}`.

    Example:

    >>> robustness_curve(model, test_data, config, levels=(0, 1.0))["curves"]["all"]
    [0.97, 0.18]
    """
    if isinstance(levels, (str, bytes)) or np.ndim(levels) != 1 or not len(levels) \
            or not all(is_real(level) and level >= 0 for level in levels):
        raise ValueError(f"`levels` must be a non-empty sequence of numbers >= 0. Received: levels={levels!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
    if ALL in config.modality_names:
        raise ValueError(f"A modality named {ALL!r} would clash with the all-modalities curve. Rename it.")
    metric = check_metric(metric, config.head.task)
    features, labels = as_arrays(data, config)
    if clean_outputs is None:
        clean_outputs = predict(model, features, batch_size)
    clean = head_metrics(config.head.task, labels, clean_outputs)[metric]
    stds = {
        name: input_std(features[name])
        for modality in config.modalities for name in modality_inputs(modality) if not is_text(features[name])
    }

    curves = {name: [] for name in [*config.modality_names, ALL]}
    for j, level in enumerate(levels):
        if level == 0:
            for curve in curves.values():
                curve.append(clean)
            continue
        everything = dict(features)  # the "all" curve: the very noise of each single-modality curve
        for i, modality in enumerate(config.modalities):
            noisy = add_noise(features, modality, level, np.random.default_rng([seed, i, j]), stds)
            curves[modality.name].append(score(model, noisy, labels, config, metric, batch_size))
            everything.update({name: noisy[name] for name in modality_inputs(modality)})
        curves[ALL].append(score(model, everything, labels, config, metric, batch_size))
    return {"metric": metric, "levels": [float(level) for level in levels], "seed": seed, "curves": curves}
