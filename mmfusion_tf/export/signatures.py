"""The serving graph: raw request tensors -> the model's input features -> named outputs.

`serving_default` decodes what a client sends (encoded images, UTF-8 text,
WAV bytes or waveforms, typed table columns) with the data pipeline's own
ops — `decoders.decode_image` then `fit_image`, `decode_wav` then
`fit_and_resample`, `or_zeros` for missing values — so the Keras model
sees the tensors it was trained on. The limits in `Limits` are checked in
the graph before decoding allocates anything large.
"""


import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.data import decoders
from mmfusion_tf.data.schema import fields_for
from mmfusion_tf.export import guards
from mmfusion_tf.export.limits import AUDIO_INPUTS

SERVING_SIGNATURE = "serving_default"
EMBEDDING_SIGNATURE = "embedding"


def label_names(head):
    """Class names of a classification head: `head.labels`, else "0", "1", ..."""
    if head.labels:
        return [str(label) for label in head.labels]
    return [str(i) for i in range(head.class_count)]


def input_signature(config, audio_input="wav"):
    """`{input name: tf.TensorSpec}` of the raw `serving_default` inputs.

    Images, text, categorical columns and (with `audio_input="wav"`) audio
    are `tf.string [None]`; waveforms are `float32 [None, None]`; numeric
    columns and `<name>_present` flags are `float32 [None]`.
    """
    if audio_input not in AUDIO_INPUTS:
        raise ValueError(f"`audio_input` must be one of {AUDIO_INPUTS}. Received: audio_input={audio_input!r}")
    specs = {}
    for f in fields_for(config):
        if f.kind == "numeric":
            spec = tf.TensorSpec([None], tf.float32, name=f.name)
        elif f.kind == "audio" and audio_input == "waveform":
            spec = tf.TensorSpec([None, None], tf.float32, name=f.name)
        else:
            spec = tf.TensorSpec([None], tf.string, name=f.name)
        specs[f.name] = spec
    if config.presence_inputs:
        for name in config.modality_names:
            specs[f"{name}_present"] = tf.TensorSpec([None], tf.float32, name=f"{name}_present")
    return specs


def _per_example(fn, batch, spec):
    """`fn(index, value)` over the examples of `batch`, stacked (index: int64 position)."""
    indices = tf.range(tf.shape(batch, out_type=tf.int64)[0])
    return tf.map_fn(lambda args: fn(*args), (indices, batch), fn_output_signature=spec)


def _images(batch, field, limits):
    shape = [*field.image_size, field.channels]

    def decode(index, contents):
        def checked():
            image = guards.decode_checked_image(
                contents, index, field.name, field.channels, limits.max_image_bytes, limits.max_image_pixels
            )
            return decoders.fit_image(image, field.image_size)

        return decoders.or_zeros(contents, shape, tf.uint8, checked)

    return _per_example(decode, batch, tf.TensorSpec(shape, tf.uint8))


def _wav_audio(batch, field, limits):
    def decode(index, contents):
        def checked():
            waveform, rate = decoders.decode_wav(contents, where=guards.input_prefix(field.name, index),
                                                 check_header=lambda header: guards.check_wav_header(header, limits))
            return decoders.fit_and_resample(waveform, rate, field.sample_rate, field.num_samples)

        return decoders.or_zeros(contents, [field.num_samples], tf.float32, checked)

    return _per_example(decode, batch, tf.TensorSpec([field.num_samples], tf.float32))


def _waveform_audio(batch, field, limits):
    checks = guards.check_audio_seconds(
        tf.shape(batch)[1], field.sample_rate, None, field.name, limits.max_audio_seconds
    )
    with checks.after():  # crop/pad the whole batch at once (waveforms already at the model's rate)
        return decoders.fit_length(batch, field.num_samples)


def decode_request(inputs, config, limits, audio_input="wav"):
    """Raw `serving_default` inputs -> the model's input features (same keys).

    First checks every input's shape and that all have the same batch size,
    at most `limits.max_batch_size`; then decodes each input under its own
    limits.
    """
    inputs, checks = guards.check_batch(inputs, limits.max_batch_size)
    features = {}
    with checks.after():
        for f in fields_for(config):
            value = inputs[f.name]
            if f.kind == "image":
                features[f.name] = _images(value, f, limits)
            elif f.kind == "audio":
                decode = _wav_audio if audio_input == "wav" else _waveform_audio
                features[f.name] = decode(value, f, limits)
            elif f.kind == "text":
                features[f.name] = guards.check_text(value, f.name, limits.max_text_length)
            elif f.kind == "numeric":
                features[f.name] = guards.check_numeric(value, f.name, limits.max_abs_numeric)
            else:
                features[f.name] = tf.identity(value)
        for name in config.modality_names if config.presence_inputs else ():
            features[f"{name}_present"] = tf.identity(inputs[f"{name}_present"])
    return features


def at_least_one_example(features):
    """`(features, batch size)`; a batch of 0 gets one placeholder example (zeros, empty strings).

    Keras layers such as convolutions fail on an empty batch; the caller runs
    the model on the padded batch and keeps the first `batch size` rows of
    each output (none), so an empty request gets empty outputs.
    """
    size = tf.shape(next(iter(features.values())))[0]
    extra = tf.maximum(1 - size, 0)

    def pad(value):
        padded = tf.pad(value, [[0, extra]] + [[0, 0]] * (value.shape.rank - 1))
        padded.set_shape([None, *value.shape[1:]])
        return padded

    return {k: pad(v) for k, v in features.items()}, size


def embedding_model(model):
    """Sub-model from the model's inputs to the fused features (the `fusion` layer's first output)."""
    try:
        fusion = model.get_layer("fusion")
    except ValueError as error:
        raise ValueError(
            "The model has no layer named 'fusion', so the fused embedding cannot be exported. "
            f"Received: model={model.name!r}"
        ) from error
    return keras.Model(model.input, fusion.output[0], name=f"{model.name}_embedding")


def serving_outputs(outputs, head):
    """The model's output dict -> the `serving_default` outputs.

    Classification: `probabilities` `[B, C]`, `classes` int64 `[B]` (top
    class; binary: probability ≥ 0.5), `labels` string `[B]`; regression:
    `prediction` `[B]`. Both: `fusion_weights` `[B, M]`. Models with
    per-modality heads add `modality_probabilities` `[B, M, C]` (regression:
    `modality_predictions` `[B, M]`): each modality's own answer.
    """
    result = {}
    if "probabilities" in outputs:
        probabilities = tf.cast(outputs["probabilities"], tf.float32)
        if head.task == "binary":
            classes = tf.cast(probabilities[:, 0] >= 0.5, tf.int64)
        else:
            classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        result["probabilities"] = probabilities
        result["classes"] = classes
        result["labels"] = tf.gather(tf.constant(label_names(head)), classes)
    else:
        result["prediction"] = tf.reshape(tf.cast(outputs["prediction"], tf.float32), [-1])
    result["fusion_weights"] = tf.cast(outputs["fusion_weights"], tf.float32)
    if "modality_logits" in outputs:  # what each modality alone answers (explains the blended answer)
        activation = tf.nn.softmax if head.task == "multiclass" else tf.sigmoid
        result["modality_probabilities"] = activation(tf.cast(outputs["modality_logits"], tf.float32))
    if "modality_predictions" in outputs:
        result["modality_predictions"] = tf.cast(outputs["modality_predictions"], tf.float32)[:, :, 0]
    return result


def write_saved_model(model, config, export_dir, limits, audio_input="wav"):
    """Writes `model` with the raw-input `serving_default` and `embedding` signatures.

    Args:
        model: the functional model of `build_model(config)`.
        config: its `ModelConfig`.
        export_dir: str, an empty or absent folder.
        limits: `Limits`.
        audio_input: "wav" (WAV bytes) or "waveform" (float32 `[B, T]` at
            the model's sample rate).
    """
    from keras.export import ExportArchive

    specs = input_signature(config, audio_input)
    embed_model = embedding_model(model)
    dtypes = {name: tensor.dtype for name, tensor in model.input.items()}

    def features_of(inputs):
        features = decode_request(inputs, config, limits, audio_input)
        features = {k: tf.cast(v, dtypes[k]) if v.dtype != tf.string else v for k, v in features.items()}
        return at_least_one_example(features)

    def serve(inputs):
        features, size = features_of(inputs)
        outputs = serving_outputs(model(features, training=False), config.head)
        return {k: v[:size] for k, v in outputs.items()}

    def embed(inputs):
        features, size = features_of(inputs)
        return {"embedding": tf.cast(embed_model(features, training=False), tf.float32)[:size]}

    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[specs])
    archive.add_endpoint(EMBEDDING_SIGNATURE, embed, input_signature=[specs])
    archive.write_out(export_dir, verbose=False)
    return export_dir
