"""The local hub folders: find a module for a handle offline, list and fill the cache.

Configs keep their real handles (`https://tfhub.dev/...`, Kaggle Models
URLs); on an air-gapped machine the module is looked up locally instead of
downloaded. The hub folders searched, in order:

1. every folder of `MMFUSION_HUB_DIR` (`os.pathsep`-separated), the
   configured place for a team's mirror;
2. the TF-Hub cache: `TFHUB_CACHE_DIR`, else `<temp dir>/tfhub_modules`
   (tensorflow_hub's own default).

In each folder a handle is found, first match wins, as:

- an entry of `mirrors.json` (`{"handle": "folder"}`, relative folders are
  relative to the hub folder);
- `<sha1(handle)>/`: TF-Hub's cache layout, what `hub.resolve` downloads and
  what `add_to_cache` writes (so `tensorflow_hub` finds it too);
- `<handle without scheme and query>/`: a readable layout for copied mirrors,
  e.g. `tfhub.dev/google/nnlm-en-dim50/2/`.

Handles with the `local-hub://` scheme name modules that exist only in a hub
folder (imported checkpoints): `local-hub://all-minilm-l6-v2/encoder` is
`<hub folder>/all-minilm-l6-v2/encoder/`.

Example:

>>> add_to_cache("https://tfhub.dev/google/nnlm-en-dim50/2", "/media/usb/nnlm50")
>>> find_mirror("https://tfhub.dev/google/nnlm-en-dim50/2")
'/tmp/tfhub_modules/...'
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile

from mmfusion_tf._atomic import atomic_directory

HUB_DIR_ENV = "MMFUSION_HUB_DIR"
TFHUB_CACHE_ENV = "TFHUB_CACHE_DIR"
MIRRORS_FILE = "mirrors.json"
LOCAL_SCHEME = "local-hub://"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SHA1_NAME = re.compile(r"^[0-9a-f]{40}$")
_MAX_DEPTH = 8


def tfhub_cache_dir():
    """TF-Hub's cache folder, as tensorflow_hub computes it (without importing it)."""
    return os.environ.get(TFHUB_CACHE_ENV) or os.path.join(tempfile.gettempdir(), "tfhub_modules")


def hub_dirs():
    """The hub folders searched, in order: `MMFUSION_HUB_DIR` folders, then the TF-Hub cache."""
    configured = [d for d in os.environ.get(HUB_DIR_ENV, "").split(os.pathsep) if d]
    dirs = []
    for d in configured + [tfhub_cache_dir()]:
        d = os.path.abspath(os.path.expanduser(d))
        if d not in dirs:
            dirs.append(d)
    return dirs


def default_hub_dir():
    """Where imported modules go: the first `MMFUSION_HUB_DIR` folder, else the TF-Hub cache."""
    return hub_dirs()[0]


def cache_name(handle):
    """Folder name of `handle` in TF-Hub's cache: the SHA-1 of the handle."""
    return hashlib.sha1(handle.encode("utf8")).hexdigest()


def readable_path(handle):
    """`handle` without scheme, query and trailing slash, as a relative path (None if unsafe)."""
    path = _SCHEME.sub("", handle.split("?", 1)[0]).strip("/")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts):
        return None
    return os.path.join(*parts)


def handle_of_readable_path(relative_path):
    """Inverse of `readable_path`: a host-like first part gives an https URL, else a `local-hub://` handle."""
    parts = relative_path.replace(os.sep, "/").split("/")
    return ("https://" if "." in parts[0] else LOCAL_SCHEME) + "/".join(parts)


def is_module_dir(path):
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def _variants(handle):
    stripped = handle.rstrip("/")
    return [handle] if stripped == handle else [handle, stripped]


def read_mirror_map(hub_dir):
    """`{handle: absolute folder}` from `<hub_dir>/mirrors.json` (empty if absent)."""
    path = os.path.join(hub_dir, MIRRORS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            entries = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"Mirror map {path} is not valid JSON: {error}") from error
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise ValueError(f"Mirror map {path} must be a JSON object {{handle: folder}}.")
    return {k: os.path.normpath(os.path.join(hub_dir, os.path.expanduser(v))) for k, v in entries.items()}


def find_mirror(handle, dirs=None):
    """Local folder of `handle` in the hub folders, or None.

    Args:
        handle: str, a TF-Hub / Kaggle Models URL or a `local-hub://` handle.
        dirs: optional list of hub folders (default: `hub_dirs()`).

    Returns:
        The folder (holding `saved_model.pb`), or None when no hub folder has it.
    """
    handle = os.fspath(handle)
    for hub_dir in dirs if dirs is not None else hub_dirs():
        mirrors = read_mirror_map(hub_dir)
        relative = readable_path(handle)
        candidates = [mirrors[h] for h in _variants(handle) if h in mirrors]
        candidates += [os.path.join(hub_dir, cache_name(h)) for h in _variants(handle)]
        candidates += [os.path.join(hub_dir, relative)] if relative else []
        for candidate in candidates:
            if is_module_dir(candidate):
                return candidate
    return None


def _write_descriptor(handle, module_dir):
    """TF-Hub's `<module_dir>.descriptor.txt`: which handle a SHA-1 folder holds."""
    with open(f"{module_dir}.descriptor.txt", "w", encoding="utf-8") as f:
        f.write(
            f"Module: {handle}\nDownload Time: {datetime.datetime.today()}\n"
            f"Downloader Hostname: {socket.gethostname()} (PID:{os.getpid()})"
        )


def _read_descriptor(module_dir):
    try:
        with open(f"{module_dir}.descriptor.txt", encoding="utf-8") as f:
            first = f.readline().strip()
    except OSError:
        return None
    return first[len("Module: "):] if first.startswith("Module: ") else None


def add_to_cache(handle, source, hub_dir=None, overwrite=False):
    """Copies the module folder `source` into a hub folder as the mirror of `handle`.

    Written in TF-Hub's cache layout (`<sha1(handle)>/` plus its descriptor
    file), so `HubEncoder`, `tensorflow_hub.resolve` and `hub.KerasLayer`
    all load it offline under the real handle.

    Args:
        handle: str, the handle configs use.
        source: str, a folder with `saved_model.pb`.
        hub_dir: optional str, destination hub folder (default: the TF-Hub
            cache, `tfhub_cache_dir()`, where tensorflow_hub looks too).
        overwrite: bool, replace an existing copy.

    Returns:
        The cached folder.
    """
    source = os.fspath(source)
    if not is_module_dir(source):
        raise ValueError(f"`source`={source!r} is not a SavedModel folder (no saved_model.pb).")
    if not isinstance(handle, str) or not handle or os.path.isdir(handle):
        raise ValueError(f"`handle` must be the hub handle configs use (a URL). Received: handle={handle!r}")
    module_dir = os.path.join(hub_dir or tfhub_cache_dir(), cache_name(handle))
    with atomic_directory(module_dir, overwrite) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    _write_descriptor(handle, module_dir)
    return module_dir


def remove_from_cache(handle, hub_dir=None):
    """Deletes the TF-Hub-layout copy of `handle` (default: in the TF-Hub cache); returns it or None."""
    module_dir = os.path.join(hub_dir or tfhub_cache_dir(), cache_name(handle))
    if not os.path.isdir(module_dir):
        return None
    shutil.rmtree(module_dir)
    descriptor = f"{module_dir}.descriptor.txt"
    if os.path.exists(descriptor):
        os.remove(descriptor)
    return module_dir


def folder_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _readable_modules(hub_dir):
    """(relative path, folder) of modules in the readable layout, not descending into modules."""
    for current, subdirs, _ in os.walk(hub_dir):
        relative = os.path.relpath(current, hub_dir)
        depth = 0 if relative == "." else relative.count(os.sep) + 1
        if depth and is_module_dir(current):
            subdirs[:] = []
            yield relative, current
            continue
        subdirs[:] = sorted(
            d for d in subdirs
            if not (depth == 0 and _SHA1_NAME.match(d)) and not d.startswith(".") and depth < _MAX_DEPTH
        )


def list_modules(dirs=None):
    """Every module in the hub folders: dicts with `handle`, `path`, `layout`, `hub_dir`, `size_bytes`.

    `layout` is "mirrors.json", "tfhub-cache" (SHA-1 folder; `handle` from its
    descriptor, None if missing) or "folder" (readable layout).
    """
    modules = []
    for hub_dir in dirs if dirs is not None else hub_dirs():
        if not os.path.isdir(hub_dir):
            continue
        found = [(h, p, MIRRORS_FILE) for h, p in sorted(read_mirror_map(hub_dir).items())]
        for name in sorted(os.listdir(hub_dir)):
            path = os.path.join(hub_dir, name)
            if _SHA1_NAME.match(name) and os.path.isdir(path):
                found.append((_read_descriptor(path), path, "tfhub-cache"))
        found += [(handle_of_readable_path(rel), path, "folder") for rel, path in _readable_modules(hub_dir)]
        for handle, path, layout in found:
            exists = is_module_dir(path)
            modules.append(
                {
                    "handle": handle, "path": path, "layout": layout, "hub_dir": hub_dir,
                    "size_bytes": folder_size(path) if exists else 0, "exists": exists,
                }
            )
    return modules
