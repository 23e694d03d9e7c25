"""Where a TF-Hub handle's files are, and the TF-Text ops its graph may need (no TensorFlow import).

The low-level half of `HubEncoder`, also used by `mmfusion hub`, export
parity and the dev server.

Example:

>>> register_text_ops()          # before tf.saved_model.load of a BERT preprocessor
>>> resolve_handle("/models/my_image_module")
'/models/my_image_module'
"""

import importlib
import os

_URL_PREFIXES = ("http://", "https://", "gs://")


def resolve_handle(handle):
    """Local folder of a TF-Hub `handle` (a path, a tfhub.dev/Kaggle URL, ...).

    Local folders are used as they are; then local hub mirrors are searched
    (`MMFUSION_HUB_DIR` folders, the TF-Hub cache, `local-hub://name`
    handles; see `mmfusion_tf.hub_mirror`); anything else goes through
    `tensorflow_hub.resolve`, which downloads and caches (honouring
    `TFHUB_CACHE_DIR`).

    Example:

    >>> resolve_handle("/models/my_image_module")
    '/models/my_image_module'
    """
    if not isinstance(handle, (str, os.PathLike)) or not str(handle):
        raise ValueError(f"`handle` must be a non-empty string or path. Received: handle={handle!r}")
    handle = os.fspath(handle)
    if os.path.isdir(handle):
        return handle
    from mmfusion_tf import hub_mirror as mirror  # local hub folders before the network

    local = mirror.find_mirror(handle)
    if local:
        return local
    if handle.startswith(mirror.LOCAL_SCHEME):
        raise FileNotFoundError(
            f"No module for `handle`={handle!r} in the hub folders {mirror.hub_dirs()}. Set {mirror.HUB_DIR_ENV} "
            "(or TFHUB_CACHE_DIR) to the folder holding it, or create it (`mmfusion hub import-bert`)."
        )
    if not handle.startswith(_URL_PREFIXES):
        raise FileNotFoundError(
            f"TF-Hub module not found: `handle`={handle!r} is neither an existing "
            "folder nor a hub URL (https://tfhub.dev/..., https://www.kaggle.com/models/...)."
        )
    import tensorflow_hub as hub  # imported lazily: only needed for remote handles

    try:
        return hub.resolve(handle)
    except Exception as error:  # hub raises many types for network/HTTP trouble
        raise OSError(
            f"Could not resolve TF-Hub `handle`={handle!r}: {error}. Offline? Set "
            "TFHUB_CACHE_DIR to a folder holding the module, or pass a local path."
        ) from error


def register_text_ops():
    """Registers the TF-Text ops (e.g. CaseFoldUTF8) that text preprocessors use.

    Importing `tensorflow_text` registers them; without it, loading a
    SavedModel that uses them fails with "Op type not registered". Call it
    before `tf.saved_model.load` of a module or export that may tokenise.
    Does nothing when tensorflow-text is not installed (image/audio-only use).
    """
    try:
        importlib.import_module("tensorflow_text")
    except ImportError:  # optional for image/audio-only use
        pass
