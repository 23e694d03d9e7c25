"""Writing a folder atomically: readers see the old folder or the whole new one.

Example:

>>> with atomic_directory("/models/image_fv", overwrite=True) as tmp:
...     tf.saved_model.save(module, tmp)
"""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary folder beside `path`, renamed to `path` on success.

    Args:
        path: final folder.
        overwrite: replace an existing `path`; otherwise it is an error.
    """
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"`{path}` already exists. Pass overwrite=True to replace it.")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_", dir=parent)
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
