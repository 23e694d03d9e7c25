"""The one place Keras is imported and the backend is checked.

`HubEncoder` adopts TensorFlow variables restored from TF-Hub SavedModels, so
the package needs Keras 3 on the TensorFlow backend (not JAX/PyTorch and not
tf_keras).

Example:

>>> from mmfusion_tf._keras import keras
>>> keras.backend.backend()
'tensorflow'
"""

import os

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
