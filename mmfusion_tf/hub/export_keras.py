"""Save a Keras model as a TF-Hub reusable SavedModel (TF2 format)."""

import tensorflow as tf

from mmfusion_tf._atomic import atomic_directory
from mmfusion_tf._keras import keras


def _input_signature(model):
    """`tf.TensorSpec` structure of the model's inputs (list, dict or single)."""

    def to_spec(keras_tensor):
        shape = list(keras_tensor.shape)
        return tf.TensorSpec(shape, keras_tensor.dtype, name=keras_tensor.name)

    # A functional model's `input` is its inputs as built (tensor, list or dict); a Sequential
    # has only the flat `inputs`.
    inputs = model.inputs if isinstance(model, keras.Sequential) else model.input
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]  # a single-input model is called on a tensor, not a list
    return tf.nest.map_structure(to_spec, inputs)


def export_keras_as_hub_module(model, export_dir, input_signature=None, overwrite=False):
    """Writes `model` as a TF-Hub reusable SavedModel that `HubEncoder` loads.

    The module follows TF-Hub's reusable SavedModel API: `obj(inputs,
    training=...)` with a concrete function for both training values, plus
    `variables`, `trainable_variables` and `regularization_losses`. The
    variables are the model's own, so the module can be fine-tuned after
    loading. The directory is written atomically (temporary folder, then
    rename).

    Args:
        model: a built `keras.Model` (functional, sequential or subclassed)
            whose call accepts `training`.
        export_dir: str, destination folder.
        input_signature: optional `tf.TensorSpec` structure of the inputs;
            default: taken from `model.inputs` (functional models).
        overwrite: bool, replace an existing `export_dir`.

    Returns:
        `export_dir`.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> path = export_keras_as_hub_module(model, "/tmp/tiny_module", overwrite=True)
    >>> HubEncoder(path)(np.ones((1, 4), "float32")).shape
    TensorShape([1, 2])
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model={type(model)!r}")
    if input_signature is None:
        if not getattr(model, "inputs", None):
            raise ValueError(
                "`input_signature` is required for a model without symbolic inputs "
                f"(subclassed or unbuilt). Received: model={model.name!r}"
            )
        input_signature = _input_signature(model)

    def call(inputs, training=False):
        return model(inputs, training=training)

    call_fn = tf.function(call)
    for training in (False, True):
        call_fn.get_concrete_function(input_signature, training=training)

    def regularization_loss():
        losses = [tf.cast(loss, tf.float32) for loss in model.losses]
        return tf.add_n(losses) if losses else tf.constant(0.0)

    root = tf.train.Checkpoint()
    root.__call__ = call_fn
    root.variables = [v.value for v in model.variables]
    root.trainable_variables = [v.value for v in model.trainable_variables]
    root.regularization_losses = (
        [tf.function(regularization_loss, input_signature=[])] if model.losses else []
    )

    with atomic_directory(export_dir, overwrite) as tmp_dir:
        tf.saved_model.save(root, tmp_dir)
    return export_dir
