"""Writing a folder atomically: readers see the old folder or the whole new one.

Example:

>>> with atomic_directory("/models/image_fv", overwrite=True) as tmp:
...     tf.saved_model.save(module, tmp)
"""

import contextlib
import os
import shutil
import tempfile
import uuid


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.remove(path)


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary folder beside `path`, renamed to `path` on success.

    With `overwrite`, an existing `path` is first renamed aside (a hidden
    sibling), the new folder renamed into place, and only then is the old one
    deleted: readers never see a half-deleted folder, and `path` is missing
    only between the two renames. If the body raises, `path` is untouched.

    Args:
        path: final folder.
        overwrite: replace an existing `path`; otherwise it is an error.
    """
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"`{path}` already exists. Pass overwrite=True to replace it.")
    path = os.path.abspath(path)  # also drops a trailing slash
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_", dir=parent)
    try:
        yield tmp
        old = None
        if os.path.lexists(path):
            old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex}")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)  # put the old folder back
            raise
        if old is not None:
            _remove(old)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
