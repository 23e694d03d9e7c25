"""Copy checkpoint tensors into Keras variables, one by one, with every mismatch named."""

import numpy as np


def assign_checkpoint_weights(assignments, source, expects="the model", hint=""):
    """Assigns each `(keras variable, numpy value or None, checkpoint key)`; returns the keys used.

    A missing tensor (value None) or a shape that differs from the variable's is an error naming
    the checkpoint key, so a layout mismatch never passes as a partial load.

    Args:
        assignments: iterable of `(variable, value, key)`; `value` already in Keras layout.
        source: str, the checkpoint's path or name (for messages).
        expects: str, what the weights go into (for messages).
        hint: str, a likely cause appended to shape errors.

    Example:

    >>> dense = keras.layers.Dense(2); dense.build((None, 3))
    >>> assign_checkpoint_weights([(dense.bias, np.zeros(2), "fc.bias")], "model.pth")
    {'fc.bias'}
    """
    used = set()
    for variable, value, key in assignments:
        if value is None:
            raise ValueError(f"Checkpoint {source!r} has no tensor {key!r}.")
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"Checkpoint tensor {key!r} has shape {tuple(value.shape)}; {expects} expects "
                f"{tuple(variable.shape)}{hint}."
            )
        variable.assign(np.asarray(value, dtype="float32"))
        used.add(key)
    return used
