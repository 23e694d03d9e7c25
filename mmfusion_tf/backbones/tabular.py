"""`TabularEncoder`: typed table columns -> one feature vector."""

import numpy as np
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf._validation import check_int


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class TabularEncoder(keras.layers.Layer):
    """Normalises numeric columns and embeds categorical ones (Keras preprocessing layers).

    Numeric columns are standardised with statistics adapted on training
    data (`adapt`, NaN-aware); a missing numeric value (NaN) becomes 0 after
    standardisation and, with `missing_indicators`, sets an extra 0/1
    column. Categorical columns go through `StringLookup` (one OOV bucket,
    which also takes missing values "") and an `Embedding`. The statistics
    and vocabularies are constructor arguments, so `get_config` carries
    them and a reloaded model standardises identically.

    Args:
        numeric_features: list of str, numeric column names.
        categorical_features: dict `{column: [vocabulary]}`; vocabularies of
            None are learned by `adapt`.
        numeric_stats: optional dict `{column: [mean, variance]}`; learned
            by `adapt` when None.
        embedding_dim: int, width of each categorical embedding.
        missing_indicators: bool, append a missing-value flag per numeric column.
        **kwargs: base layer arguments.

    Call arguments:
        columns: dict `{column: [batch] tensor}` (float for numeric, string
            for categorical).

    Example:

    >>> enc = TabularEncoder(["beds"], {"city": ["a", "b"]})
    >>> enc.adapt({"beds": np.array([1.0, 2.0, np.nan])})
    >>> enc({"beds": tf.constant([1.0]), "city": tf.constant(["a"])}).shape
    TensorShape([1, 10])
    """

    def __init__(
        self, numeric_features=(), categorical_features=None, numeric_stats=None, embedding_dim=8,
        missing_indicators=True, **kwargs,
    ):
        # Raw column values must reach `call` unrounded: Keras would otherwise cast
        # them to a float16/bfloat16 compute dtype first (1e5 -> inf in float16).
        super().__init__(autocast=False, **kwargs)
        self.numeric_features = list(numeric_features)
        self.categorical_features = {
            k: (list(v) if v is not None else None) for k, v in (categorical_features or {}).items()
        }
        if not self.numeric_features and not self.categorical_features:
            raise ValueError(
                "TabularEncoder needs at least one column in `numeric_features` or `categorical_features`."
            )
        overlap = set(self.numeric_features) & set(self.categorical_features)
        if overlap:
            raise ValueError(f"Columns cannot be both numeric and categorical: {sorted(overlap)}")
        self.numeric_stats = {k: [float(v[0]), float(v[1])] for k, v in (numeric_stats or {}).items()}
        self.embedding_dim = check_int("embedding_dim", embedding_dim, minimum=1)
        self.missing_indicators = bool(missing_indicators)
        self.lookups = {}
        self.embeddings = {}

    @property
    def columns(self):
        """All input column names, numeric first."""
        return self.numeric_features + list(self.categorical_features)

    def adapt(self, data):
        """Learns numeric statistics and missing vocabularies from `data`.

        Args:
            data: dict `{column: array-like}` of training rows.
        """
        for name in self.numeric_features:
            if name not in data:
                raise KeyError(f"adapt(): numeric column {name!r} missing from data. Columns: {sorted(data)}")
            values = np.asarray(data[name], dtype="float64")
            if np.all(np.isnan(values)):
                raise ValueError(f"adapt(): numeric column {name!r} has no values (all missing).")
            self.numeric_stats[name] = [float(np.nanmean(values)), float(max(np.nanvar(values), 1e-12))]
        for name, vocab in self.categorical_features.items():
            if vocab is None:
                if name not in data:
                    raise KeyError(f"adapt(): categorical column {name!r} missing from data. Columns: {sorted(data)}")
                values = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(data[name]).ravel()]
                self.categorical_features[name] = sorted({v for v in values if v != ""})

    def build(self, input_shape):
        missing_stats = [n for n in self.numeric_features if n not in self.numeric_stats]
        missing_vocab = [n for n, v in self.categorical_features.items() if v is None]
        if missing_stats or missing_vocab:
            raise ValueError(
                f"TabularEncoder {self.name!r} is not adapted: call `adapt(train_data)` first "
                f"(no statistics for {missing_stats}, no vocabulary for {missing_vocab})."
            )
        for name, vocab in self.categorical_features.items():
            self.lookups[name] = keras.layers.StringLookup(vocabulary=vocab, num_oov_indices=1, name=f"lookup_{name}")
            self.embeddings[name] = keras.layers.Embedding(len(vocab) + 1, self.embedding_dim, name=f"embedding_{name}")
            self.embeddings[name].build((None,))
        self.built = True

    def call(self, columns):
        missing = [c for c in self.columns if c not in columns]
        if missing:
            raise KeyError(
                f"TabularEncoder {self.name!r}: input columns {missing} missing. Received: {sorted(columns)}"
            )
        parts = []
        for name in self.numeric_features:
            mean, variance = self.numeric_stats[name]
            value = tf.reshape(tf.cast(columns[name], tf.float32), [-1, 1])
            is_missing = tf.math.is_nan(value)
            scaled = (value - mean) / np.sqrt(variance)
            parts.append(tf.where(is_missing, tf.zeros_like(scaled), scaled))
            if self.missing_indicators:
                parts.append(tf.cast(is_missing, tf.float32))
        for name in self.categorical_features:
            value = tf.reshape(columns[name], [-1])
            if value.dtype != tf.string:
                value = tf.strings.as_string(value)
            parts.append(tf.cast(self.embeddings[name](self.lookups[name](value)), tf.float32))
        features = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        return tf.cast(features, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        width = len(self.numeric_features) * (2 if self.missing_indicators else 1)
        width += len(self.categorical_features) * self.embedding_dim
        return (None, width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "numeric_features": self.numeric_features,
                "categorical_features": self.categorical_features,
                "numeric_stats": self.numeric_stats,
                "embedding_dim": self.embedding_dim,
                "missing_indicators": self.missing_indicators,
            }
        )
        return config
