"""Run-folder files: JSON written atomically, and the fingerprint that ties a folder to its settings.

Example:

>>> write_json_atomic("runs/a/state.json", {"completed": ["frozen"]})
'runs/a/state.json'
>>> fingerprint({"seed": 0})
'de7d7744ccd7722e'
"""

import hashlib
import json
import os


def write_json_atomic(path, data, **kwargs):
    """Writes `data` as indented JSON to a temporary file beside `path`, then renames it over `path`.

    Readers see the old file or the whole new one, never a partial write.
    `kwargs` go to `json.dump` (e.g. `default=str`). Returns `path`.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, **kwargs)
    os.replace(tmp, path)
    return path


def fingerprint(data):
    """16 hex digits of the SHA-256 of `data` as canonical JSON (sorted keys; other types via `str`)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
