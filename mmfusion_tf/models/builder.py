"""`build_model`: a `ModelConfig` -> a Keras functional multimodal fusion model."""

import tensorflow as tf

from mmfusion_tf import fusion as fusion_layers
from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.audio import AudioEncoder
from mmfusion_tf.backbones.image import ImageEncoder
from mmfusion_tf.backbones.tabular import TabularEncoder
from mmfusion_tf.backbones.text import TextEncoder
from mmfusion_tf.config import AudioModality, ImageModality, TabularModality, TextModality
from mmfusion_tf.models.fusion_model import FusionModel
from mmfusion_tf.models.heads import build_head


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class PresenceMask(keras.layers.Layer):
    """Stacks per-modality `<name>_present` inputs into a `[batch, M]` float mask.

    Called on a list of `[batch]` presence tensors, or, with
    `num_modalities` set and a reference tensor, returns all ones.
    """

    def __init__(self, num_modalities, from_inputs=True, **kwargs):
        super().__init__(**kwargs)
        self.num_modalities = num_modalities
        self.from_inputs = from_inputs

    def call(self, inputs):
        if self.from_inputs:
            return tf.stack([tf.reshape(tf.cast(p, self.compute_dtype), [-1]) for p in inputs], axis=-1)
        batch = tf.shape(inputs)[0]
        return tf.ones([batch, self.num_modalities], self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (None, self.num_modalities)

    def get_config(self):
        return {**super().get_config(), "num_modalities": self.num_modalities, "from_inputs": self.from_inputs}


def _input_for(modality):
    """The `keras.Input`(s) of one modality: a tensor, or a dict of columns."""
    if isinstance(modality, ImageModality):
        return keras.Input(tuple(modality.input_shape), dtype=modality.input_dtype, name=modality.name)
    if isinstance(modality, TextModality):
        return keras.Input((), dtype="string", name=modality.name)
    if isinstance(modality, AudioModality):
        return keras.Input((modality.num_samples,), dtype="float32", name=modality.name)
    columns = {c: keras.Input((), dtype="float32", name=c) for c in modality.numeric_features}
    columns.update({c: keras.Input((), dtype="string", name=c) for c in modality.categorical_features})
    return columns


def build_encoder(modality, adapt_data=None):
    """The encoder layer of one modality config (tabular: adapted on `adapt_data`)."""
    name = f"{modality.name}_encoder"
    if isinstance(modality, ImageModality):
        v = modality.resolved("image")
        return ImageEncoder(
            v["handle"], image_size=v["image_size"], value_range=v["value_range"], channels=v["channels"],
            trainable=v["trainable"], output_key=v["output_key"], name=name,
        )
    if isinstance(modality, TextModality):
        v = modality.resolved("text")
        return TextEncoder(
            v["handle"], preprocessor=v["preprocessor"], output_key=v["output_key"],
            pooling=v["pooling"], trainable=v["trainable"], max_length=v.get("max_length"), name=name,
        )
    if isinstance(modality, AudioModality):
        v = modality.resolved("audio")
        return AudioEncoder(
            v["handle"], sample_rate=v["sample_rate"], pooling=v["pooling"], batched=v["batched"],
            output_key=v["output_key"], trainable=v["trainable"], name=name,
        )
    if isinstance(modality, TabularModality):
        if adapt_data is not None:
            adapt_tabular(modality, adapt_data)
        return _tabular_encoder(modality, name)
    raise TypeError(f"Unknown modality config: {modality!r}")


def adapt_tabular(modality, data):
    """Learns a `TabularModality`'s missing statistics and vocabularies from `data`, into the config.

    Written into `modality` (not only into a layer) so config -> model -> config is lossless and
    every model built from the config afterwards (e.g. each tuner trial) shares them.

    Example:

    >>> table = TabularModality(name="table", numeric_features=["beds"])
    >>> adapt_tabular(table, {"beds": [1.0, 3.0]})
    >>> table.numeric_stats
    {'beds': [2.0, 1.0]}
    """
    encoder = _tabular_encoder(modality, f"{modality.name}_encoder")
    encoder.adapt(data)
    modality.numeric_stats = dict(encoder.numeric_stats)
    modality.categorical_features = dict(encoder.categorical_features)


def _tabular_encoder(modality, name):
    return TabularEncoder(
        modality.numeric_features, modality.categorical_features, modality.numeric_stats,
        embedding_dim=modality.embedding_dim, missing_indicators=modality.missing_indicators, name=name,
    )


def build_fusion(config):
    """The fusion layer of `config.fusion`; a decision-level layer (`decision_level`) gets the head's width."""
    spec = config.fusion
    if spec.method == "auto":
        raise ValueError(
            "fusion.method='auto' is a choice among models, not one layer: train it with `mmfusion train` or "
            "`mmfusion_tf.training.compare_fusion`, which build a model per candidate method."
        )
    layer_cls = fusion_layers.spec(spec.method)
    if layer_cls.decision_level:
        activation = {"multiclass": "softmax", "regression": "linear"}.get(config.head.task, "sigmoid")
        # The head gets the prediction's logits and applies the activation itself.
        arguments = {
            "num_outputs": config.head.num_outputs, "activation": activation, "return_logits": activation != "linear",
        }
    else:
        arguments = {"projection_dim": spec.projection_dim}
    return layer_cls(name="fusion", **arguments, **spec.options)


def build_model(config, adapt_data=None, contrastive=None):
    """Builds the functional fusion model described by `config`.

    Inputs are named after the modalities (tabular: after their columns),
    plus `<name>_present` floats when `config.presence_inputs`; they equal
    the feature keys of the tf.data pipeline. Outputs are a dict:
    `logits`, `probabilities` (classification) or `prediction`
    (regression), and `fusion_weights` `[batch, M]` (the weight each
    modality received for each example, in `config.modality_names` order);
    with `config.head.modality_heads` also the fused and per-modality
    heads' outputs (`build_head`).

    Args:
        config: `ModelConfig`.
        adapt_data: optional dict of training columns, used to adapt
            tabular statistics/vocabularies missing from the config.
        contrastive: optional `ContrastiveConfig`; when given, a
            pass-through `ContrastiveAlignment` layer (named
            `contrastive_alignment`) between encoders and fusion adds the
            InfoNCE loss while training.

    Returns:
        A `FusionModel` (a functional `keras.Model`).

    Example:

    >>> model = build_model(config)
    >>> model.compile("adam", loss=default_loss(config.head), metrics=default_metrics(config.head))
    >>> model.fit(train_ds, validation_data=val_ds, epochs=3)
    """
    config.validate()
    names = config.modality_names

    # === Layers ===
    encoders = {m.name: build_encoder(m, adapt_data) for m in config.modalities}
    fusion = build_fusion(config)
    modality_dropout = (
        fusion_layers.ModalityDropout(config.fusion.modality_dropout, name="modality_dropout")
        if config.fusion.modality_dropout > 0 and len(names) > 1
        else None
    )
    weights_out = keras.layers.Activation("linear", dtype="float32", name="fusion_weights")
    alignment = None
    if contrastive is not None:
        from mmfusion_tf.models.contrastive import ContrastiveAlignment

        alignment = ContrastiveAlignment(
            names, pairs=contrastive.pairs, weight=contrastive.weight, projection_dim=contrastive.projection_dim,
            temperature=contrastive.temperature, name="contrastive_alignment",
        )

    # === Functional Model ===
    modality_inputs = {m.name: _input_for(m) for m in config.modalities}
    inputs = {}
    for m in config.modalities:
        value = modality_inputs[m.name]
        inputs.update(value if isinstance(value, dict) else {m.name: value})
    features = [encoders[name](modality_inputs[name]) for name in names]

    presence = None
    if config.presence_inputs:
        present = {f"{n}_present": keras.Input((), dtype="float32", name=f"{n}_present") for n in names}
        inputs.update(present)
        presence = PresenceMask(len(names), name="presence")(list(present.values()))
    if alignment is not None:
        features = alignment(features, presence=presence)
    if modality_dropout is not None:
        if presence is None:
            presence = PresenceMask(len(names), from_inputs=False, name="presence")(features[0])
        presence = modality_dropout(presence)
    fused, weights = fusion(features, presence=presence)
    outputs = build_head(
        config.head, fused, late_prediction=fusion.decision_level, features=features,
        modality_names=names, presence=presence,
    )
    outputs["fusion_weights"] = weights_out(weights)

    # === Config ===
    return FusionModel(inputs=inputs, outputs=outputs, name=config.name)
