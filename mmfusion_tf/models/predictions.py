"""Evaluation data in, model outputs out: numpy features and labels, batched predictions.

Every evaluation function accepts the same `data`: a `tf.data.Dataset` of
`(features, label)` (batched or not), a dict of arrays with a `"label"` key
(as `make_demo_data` returns), or a `(features, labels)` pair. `as_arrays`
turns it into numpy once, keeps the model inputs and checks that none is
missing; `predict` runs the model over them in batches.

Example:

>>> features, labels = as_arrays(make_demo_data(num_examples=8), config)
>>> predict(model, features, batch_size=4)["fusion_weights"].shape
(8, 3)
"""

import numpy as np
import tensorflow as tf

from mmfusion_tf._validation import is_int
from mmfusion_tf.config import AudioModality, ImageModality, TabularModality

_UNBATCHED_RANK = {ImageModality: 3, AudioModality: 1}  # other inputs are scalars per example


def modality_inputs(modality):
    """Names of the model inputs of one modality config (tabular: its columns)."""
    if isinstance(modality, TabularModality):
        return list(modality.numeric_features) + list(modality.categorical_features)
    return [modality.name]


def is_text(array):
    """True for arrays of strings (str, bytes or object)."""
    return np.asarray(array).dtype.kind in ("O", "U", "S")


def as_arrays(data, config):
    """`(features, labels)` as numpy from a dataset, a dict with `"label"` or a pair.

    Features keep only the inputs of `config`; text becomes an object
    array of `str`. Missing `<name>_present` inputs are filled with ones
    (every modality present); any other missing input is an error.

    Args:
        data: `tf.data.Dataset` of `(features, label)`, dict of arrays with a
            `"label"` key, or a `(features_dict, labels)` pair.
        config: the `ModelConfig` of the model.

    Returns:
        `(features, labels)`: dict of numpy arrays, numpy array.

    Example:

    >>> features, labels = as_arrays({"text": ["a dog"], "label": [1]}, config)
    """
    if isinstance(data, tf.data.Dataset):
        features, labels = _from_dataset(data, config)
    elif isinstance(data, dict):
        if "label" not in data:
            raise ValueError(f"`data` as a dict of arrays needs a 'label' key. Received keys: {sorted(data)}")
        features, labels = {k: v for k, v in data.items() if k != "label"}, data["label"]
    elif isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], dict):
        features, labels = data
    else:
        raise ValueError(
            "`data` must be a tf.data.Dataset of (features, label), a dict of arrays with a 'label' key "
            f"or a (features, labels) pair. Received: data of type {type(data).__name__}"
        )
    features = _select_inputs(features, config)
    labels = np.asarray(labels)
    lengths = {k: len(v) for k, v in features.items()}
    if any(n != len(labels) for n in lengths.values()):
        raise ValueError(
            f"Every array of `data` needs one row per label ({len(labels)}). Received lengths: {lengths}"
        )
    if not len(labels):
        raise ValueError("`data` holds no examples.")
    return features, labels


def predict(model, features, batch_size=64):
    """The model's dict outputs on `features`, as numpy, in batches of `batch_size`.

    Example:

    >>> predict(model, features)["probabilities"].shape
    (8, 8)
    """
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    total = len(next(iter(features.values())))
    chunks = [
        model.predict_on_batch({k: v[start:start + batch_size] for k, v in features.items()})
        for start in range(0, total, batch_size)
    ]
    if not isinstance(chunks[0], dict):
        raise ValueError(
            f"`model` must return a dict of outputs (see `build_model`). Received: {type(chunks[0]).__name__}"
        )
    return {key: np.concatenate([np.asarray(c[key]) for c in chunks]) for key in chunks[0]}


def _select_inputs(features, config):
    names = config.input_names()
    present = {f"{n}_present" for n in config.modality_names} if config.presence_inputs else set()
    missing = [n for n in names if n not in features and n not in present]
    if missing:
        raise ValueError(
            f"`data` is missing the model input(s) {missing}. Model inputs: {names}. Received keys: {sorted(features)}"
        )
    size = len(np.asarray(next(iter(features[n] for n in names if n in features))))
    selected = {}
    for name in names:
        value = np.asarray(features[name]) if name in features else np.ones(size, "float32")
        if is_text(value):
            value = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.reshape(-1)],
                             dtype=object).reshape(value.shape)
        selected[name] = value
    return selected


def _from_dataset(dataset, config):
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) >= 2 and isinstance(spec[0], dict)):
        raise ValueError(
            f"`data` as a tf.data.Dataset must yield (features_dict, label). Received: element_spec={spec}"
        )
    if not _is_batched(spec[0], config):
        dataset = dataset.batch(256)
    batches = [(element[0], element[1]) for element in dataset.as_numpy_iterator()]
    if not batches:
        raise ValueError("`data` holds no examples.")
    features = {key: np.concatenate([b[0][key] for b in batches]) for key in spec[0]}
    return features, np.concatenate([b[1] for b in batches])


def _is_batched(feature_spec, config):
    for modality in config.modalities:
        rank = _UNBATCHED_RANK.get(type(modality), 0)
        for name in modality_inputs(modality):
            if name in feature_spec:
                return feature_spec[name].shape.rank > rank
    return True
