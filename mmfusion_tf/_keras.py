"""The one place Keras is imported and the backend is checked.

`HubEncoder` adopts TensorFlow variables restored from TF-Hub SavedModels, so
the package needs Keras 3 on the TensorFlow backend (not JAX/PyTorch and not
tf_keras).

Example:

>>> from mmfusion_tf._keras import keras
>>> keras.backend.backend()
'tensorflow'
"""

import contextlib
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # TF_CPP_MIN_LOG_LEVEL: set by mmfusion_tf/__init__.py

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "mmfusion_tf needs Keras 3 on the TensorFlow backend, because TF-Hub "
        "modules are TensorFlow SavedModels. Received: "
        f"KERAS_BACKEND={keras.backend.backend()!r}. "
        "Set KERAS_BACKEND=tensorflow before importing keras."
    )

if not keras.__version__.startswith("3."):
    raise ImportError(
        f"mmfusion_tf needs Keras 3. Received: keras=={keras.__version__}."
    )

__all__ = ["keras"]


@contextlib.contextmanager
def quiet_dataset_end():
    """Hides Keras' "Your input ran out of data" warning inside the block.

    Pipelines of `make_dataset` have unknown length, so every epoch ends by
    running out of data; Keras warns about it although nothing is wrong.

    Example:

    >>> with quiet_dataset_end():
    ...     model.fit(make_dataset(train, config, training=True), epochs=3)  # doctest: +SKIP
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield
