"""`HubEncoder`: a Keras 3 layer around a TF-Hub module (reusable SavedModel)."""

import inspect
import os
import re

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf._private_apis import track_variable
from mmfusion_tf.hub_handles import register_text_ops, resolve_handle

def _accepts_training(fn):
    try:
        spec = inspect.getfullargspec(fn)
    except TypeError:
        return False
    return "training" in spec.args or "training" in spec.kwonlyargs


def _sanitize(name):
    """Keras variable names: no ':0', no slashes (optimizer slot names break)."""
    name = re.sub(r":\d+$", "", name)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class HubEncoder(keras.layers.Layer):
    """Wraps a TF-Hub module (TF2 reusable SavedModel) as a Keras 3 layer.

    The module's restored `tf.Variable`s become this layer's weights (the very
    same objects), so `model.fit` with `trainable=True` fine-tunes the
    backbone. The layer does not autocast its inputs: floating inputs reach
    the hub graph as float32 (lower-precision ones are cast up) and the
    outputs are cast to the layer's compute dtype, so the hub graph stays
    float32 under a mixed-precision policy. Only the handle is serialised,
    never weights.

    Args:
        handle: str, a local folder in TF-Hub's SavedModel format, a
            tfhub.dev / Kaggle Models URL, or any `hub.resolve`-able handle.
        trainable: bool, whether the module's variables are fine-tuned.
        signature: optional str, call this named signature instead of the
            module's `__call__` (signatures take keyword inputs and return
            dicts).
        output_key: optional str (dict outputs) or int (tuple outputs): the
            output to return. None returns the module's whole output.
        arguments: optional dict of extra keyword arguments for every call.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor or dict of tensors, as the module expects.
        training: Python bool, forwarded when the module's `__call__`
            accepts `training` (and only then).

    Example:

    >>> encoder = HubEncoder("/tmp/tiny_module", trainable=True)
    >>> images = keras.Input((32, 32, 3))
    >>> features = encoder(images)
    """

    def __init__(self, handle, trainable=False, signature=None, output_key=None, arguments=None, **kwargs):
        # autocast=False: Keras would round float32 inputs to float16/bfloat16
        # before `call`, only for them to be cast back to float32 for the module.
        super().__init__(trainable=trainable, autocast=False, **kwargs)
        self.handle = os.fspath(handle) if isinstance(handle, os.PathLike) else handle
        self.signature = signature
        self.output_key = output_key
        self.arguments = dict(arguments or {})
        self._module = self._load(self.handle)
        self._fn = self._select_callable(self._module)
        self._fn_accepts_training = signature is None and _accepts_training(self._fn)
        self._adopt_variables(self._module)
        self._regularization_losses = list(getattr(self._module, "regularization_losses", []) or [])
        self.built = True

    # --- loading -------------------------------------------------------------

    def _load(self, handle):
        register_text_ops()
        path = resolve_handle(handle)
        if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"`handle`={handle!r} is a folder without saved_model.pb; expected a "
                "TF-Hub module in TF2 SavedModel format."
            )
        return tf.saved_model.load(path)

    def _select_callable(self, module):
        signatures = sorted(getattr(module, "signatures", {}) or {})
        if self.signature is not None:
            if self.signature not in signatures:
                raise ValueError(
                    f"Unknown `signature`={self.signature!r} for TF-Hub module {self.handle!r}. "
                    f"Available signatures: {signatures}"
                )
            return module.signatures[self.signature]
        if not callable(module):
            raise ValueError(
                f"TF-Hub module {self.handle!r} has no `__call__` (it is not a reusable "
                f"SavedModel). Pass `signature=` with one of: {signatures}"
            )
        return module.__call__

    def _adopt_variables(self, module):
        variables = list(getattr(module, "variables", []) or [])
        trainable_ids = {id(v) for v in getattr(module, "trainable_variables", []) or []}
        for var in variables:
            adopted = keras.Variable(
                initializer=var,
                shape=var.shape,
                dtype=var.dtype.name,
                trainable=id(var) in trainable_ids,
                name=_sanitize(var.name),
            )
            track_variable(self, adopted)

    # --- calling -------------------------------------------------------------

    def _to_float32(self, value):
        if isinstance(value, tf.Tensor) or hasattr(value, "dtype"):
            value = tf.convert_to_tensor(value)
            if value.dtype.is_floating and value.dtype != tf.float32:
                return tf.cast(value, tf.float32)
        return value

    def _to_compute_dtype(self, value):
        value = tf.convert_to_tensor(value)
        if value.dtype.is_floating and value.dtype != self.compute_dtype:
            return tf.cast(value, self.compute_dtype)
        return value

    def _select_output(self, outputs):
        if self.output_key is None:
            return outputs
        if isinstance(outputs, dict):
            if self.output_key not in outputs:
                raise ValueError(
                    f"Unknown `output_key`={self.output_key!r} for TF-Hub module "
                    f"{self.handle!r}. Available keys: {sorted(outputs)}"
                )
            return outputs[self.output_key]
        if isinstance(outputs, (list, tuple)):
            if not isinstance(self.output_key, int) or not -len(outputs) <= self.output_key < len(outputs):
                raise ValueError(
                    f"`output_key`={self.output_key!r} does not index the module's "
                    f"{len(outputs)} outputs; pass an int in [0, {len(outputs) - 1}]."
                )
            return outputs[self.output_key]
        raise ValueError(
            f"`output_key`={self.output_key!r} was given but TF-Hub module {self.handle!r} "
            "returns a single tensor; remove `output_key`."
        )

    def call(self, inputs, training=None):
        inputs = tf.nest.map_structure(self._to_float32, inputs)
        kwargs = dict(self.arguments)
        if self._fn_accepts_training:
            kwargs["training"] = bool(training) and self.trainable
        if self.signature is not None:
            if not isinstance(inputs, dict):
                names = list(self._fn.structured_input_signature[1])
                if len(names) != 1:
                    raise ValueError(
                        f"Signature {self.signature!r} takes inputs {names}; pass a dict."
                    )
                inputs = {names[0]: inputs}
            outputs = self._fn(**inputs, **kwargs)
        else:
            outputs = self._fn(inputs, **kwargs)
        if self.trainable and training:
            for loss_fn in self._regularization_losses:
                self.add_loss(tf.cast(loss_fn(), tf.float32))
        outputs = self._select_output(outputs)
        return tf.nest.map_structure(self._to_compute_dtype, outputs)

    # --- config --------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "handle": self.handle,
                "signature": self.signature,
                "output_key": self.output_key,
                "arguments": self.arguments,
            }
        )
        return config
