"""AV-digits: spoken digits (FSDD) paired with handwritten digits (MNIST).

The real audio + image benchmark of this package, built like MultiBench's
AV-MNIST: every Free Spoken Digit Dataset clip is paired with one MNIST test
image of the same digit. Nothing is downloaded; `root` must hold

    fsdd/recordings/{digit}_{speaker}_{index}.wav   (8 kHz, 16-bit mono)
    mnist/t10k-images-idx3-ubyte.gz
    mnist/t10k-labels-idx1-ubyte.gz

Splits keep FSDD's own rule and never share a clip or an image:

- clips with recording index 0-4 -> `"test"` (FSDD's official test split),
  index 5-9 -> `"val"`, index 10-49 -> `"train"` (3,000 clips: 2,400 / 300 /
  300, 10 % of the official training indices held out for validation);
- the 10,000 MNIST test images are split per digit, after a seeded shuffle,
  into 70 % / 15 % / 15 % pools for train / val / test, and each clip takes a
  distinct image from its split's pool of the same digit.

`difficulty` degrades both modalities so that neither alone is enough (see
`av_digits`). Sources: FSDD (github.com/Jakobovski/free-spoken-digit-dataset,
CC BY-SA 4.0) and MNIST (LeCun, Cortes and Burges, usually cited as
CC BY-SA 3.0); cite both where results are shown.

Example:

>>> data = av_digits("../shared/data", difficulty=0.5)  # doctest: +SKIP
>>> data["train"]["image"].shape, data["train"]["audio"].shape  # doctest: +SKIP
((2400, 28, 28, 1), (2400, 8000))
>>> write_av_digits_files(data["test"], "/tmp/avd_test")  # doctest: +SKIP
'/tmp/avd_test/manifest.csv'
"""

import csv
import glob
import gzip
import os
import re
import struct
import wave
import zlib

import numpy as np

from mmfusion_tf.data.splits import stratified_split
from mmfusion_tf._validation import check_seed, is_int as _is_int, is_real as _is_real

# === Constants ===

LABEL_NAMES = (
    "zero", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine",
)
SPLITS = ("train", "val", "test")

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"
MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
FSDD_LICENSE = "CC BY-SA 4.0"
MNIST_LICENSE = "CC BY-SA 3.0"
FSDD_RECORDINGS = os.path.join("fsdd", "recordings")
MNIST_IMAGES = os.path.join("mnist", "t10k-images-idx3-ubyte.gz")
MNIST_LABELS = os.path.join("mnist", "t10k-labels-idx1-ubyte.gz")

# FSDD recording index -> split: 0-4 test (official), 5-9 val, 10-49 train.
TEST_MAX_INDEX = 4
VAL_MAX_INDEX = 9
# Per-digit shares of the MNIST test images for (train, val, test).
IMAGE_FRACTIONS = (0.7, 0.15, 0.15)

# Degradation strengths at difficulty d in [0, 1] (see `av_digits`).
IMAGE_NOISE_STD = 0.5  # Gaussian std d * 0.5 on the [0, 1] pixel scale
IMAGE_OCCLUSION = 0.6  # zeroed block = d * 60 % of the digit's bounding box
AUDIO_SNR_AT_0_DB = 20.0  # SNR = 20 dB - 30 dB * d
AUDIO_SNR_SLOPE_DB = 30.0
AUDIO_TIME_MASK = 0.5  # zeroed span = d * 50 % of the clip

_CLIP_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
_IDX_MAGIC = {"images": 2051, "labels": 2049}


# === Public API ===


def av_digits(
    root,
    difficulty=0.0,
    seed=0,
    sample_rate=8000,
    max_seconds=1.0,
    image_size=28,
    max_per_split=None,
):
    """Loads the AV-digits benchmark (FSDD audio + MNIST images) from disk.

    Audio is decoded with `wave` (16-bit PCM / 32768), linearly resampled when
    `sample_rate` differs from the file's rate, then the first
    `T = round(sample_rate * max_seconds)` samples are kept (zero-padded when
    shorter). Images are resized bilinearly when `image_size != 28`.

    Each split's rows are in a seeded random order; `max_per_split` keeps the
    first rows of that order (so a smaller load is a prefix of the full one,
    same pairs, same degradation).

    Degradation at `difficulty = d` (none at `d = 0`), drawn from a generator
    seeded by `(seed, crc32(clip file name))`, so each example is degraded
    the same way whatever the split size:

    - image, on the [0, 1] scale: zero one random rectangle covering
      `0.6 * d` of the digit's bounding box (height share `u ~ U(0.6 d, 1)`,
      width share `0.6 d / u`, placed uniformly inside the box), then add
      Gaussian noise with std `0.5 * d`, clip to [0, 1] and round to uint8;
    - audio: zero a random contiguous span of `0.5 * d` of the clip's
      (cropped) length, then add white Gaussian noise over the whole window
      at `SNR = 20 - 30 * d` dB relative to the clean clip's mean power
      (20 dB at d -> 0, 0.5 dB at d = 0.65, -10 dB at d = 1), and clip to
      [-1, 1].

    Args:
        root: str, folder holding `fsdd/recordings/*.wav` and the two MNIST
            `t10k-*-ubyte.gz` files in `mnist/`.
        difficulty: float in [0, 1], degradation strength `d`.
        seed: int >= 0, seed of the image split, the pairing, the row order
            and the degradation.
        sample_rate: int >= 1000, audio samples per second.
        max_seconds: float > 0, audio window length.
        image_size: int >= 8, image height and width `S`.
        max_per_split: optional int >= 1, keep at most this many rows per
            split (for quick tests).

    Returns:
        A dict with `"train"`, `"val"`, `"test"`, each a dict of numpy arrays
        over `N` rows: `"image"` uint8 `[N, S, S, 1]`, `"audio"` float32
        `[N, T]` in [-1, 1], `"label"` int32 `[N]` digit, `"speaker"` and
        `"audio_path"` object arrays of str `[N]`, `"image_index"` int64 `[N]`
        (row in the MNIST test set); plus `"label_names"` (list of the ten
        digit words) and `"info"` (counts, settings and sources with URLs
        and licenses).

    Raises:
        FileNotFoundError: a data file or folder is missing (message names
            it and where to download it).
        ValueError: an argument is out of range, or a file is corrupt
            (message names the file).

    Example:

    >>> data = av_digits("../shared/data", max_per_split=8)  # doctest: +SKIP
    >>> data["val"]["label"].dtype, data["label_names"][3]  # doctest: +SKIP
    (dtype('int32'), 'three')
    """
    difficulty = _check_args(
        difficulty, seed, sample_rate, max_seconds, image_size, max_per_split
    )
    num_samples = int(round(sample_rate * max_seconds))
    root = os.fspath(root)
    clips = _list_clips(root)
    images, image_labels = _load_mnist(root)

    # === Pairing ===
    pools = _image_pools(image_labels, seed)
    splits = {}
    for split_id, split in enumerate(SPLITS):
        names = [c for c in clips if _split_of(c[2]) == split]
        order = np.random.default_rng([seed, 2, split_id]).permutation(len(names))
        if max_per_split is not None:
            order = order[:max_per_split]
        chosen = [names[i] for i in order]
        labels = np.array([c[0] for c in chosen], dtype=np.int32)
        image_index = np.empty(len(chosen), dtype=np.int64)
        for digit in range(10):
            rows = np.flatnonzero(labels == digit)
            pool = pools[split][digit]
            if len(rows) > len(pool):
                raise ValueError(
                    f"Split {split!r} has {len(rows)} clips of digit {digit} but "
                    f"only {len(pool)} MNIST images of it in "
                    f"{os.path.join(root, MNIST_IMAGES)}."
                )
            image_index[rows] = pool[: len(rows)]
        splits[split] = _build_split(
            root, chosen, labels, image_index, images, seed, difficulty,
            sample_rate, num_samples, image_size,
        )

    info = {
        "counts": {split: int(len(splits[split]["label"])) for split in SPLITS},
        "difficulty": difficulty,
        "seed": seed,
        "sample_rate": sample_rate,
        "max_seconds": float(max_seconds),
        "image_size": image_size,
        "max_per_split": max_per_split,
        "fsdd_split": (
            f"recording index 0-{TEST_MAX_INDEX} test, "
            f"{TEST_MAX_INDEX + 1}-{VAL_MAX_INDEX} val, "
            f"{VAL_MAX_INDEX + 1}-49 train"
        ),
        "image_fractions": dict(zip(SPLITS, IMAGE_FRACTIONS)),
        "sources": {
            "fsdd": {
                "name": "Free Spoken Digit Dataset",
                "url": FSDD_URL,
                "license": FSDD_LICENSE,
                "path": os.path.join(root, FSDD_RECORDINGS),
            },
            "mnist": {
                "name": "MNIST test split (LeCun, Cortes and Burges)",
                "url": MNIST_URL,
                "license": MNIST_LICENSE,
                "path": os.path.join(root, "mnist"),
            },
        },
    }
    return {**splits, "label_names": list(LABEL_NAMES), "info": info}


def write_av_digits_files(split_dict, out_dir, image_format="png", sample_rate=8000):
    """Writes one AV-digits split as PNG + WAV files and a CSV manifest.

    Row `i` becomes `images/{i}.png` (8-bit grayscale) and `audio/{i}.wav`
    (mono 16-bit PCM, `round(audio * 32767)`), listed in `manifest.csv` with
    columns `image,audio,label` (paths relative to the manifest).

    Args:
        split_dict: dict with `"image"` uint8 `[N, S, S, 1]`, `"audio"` float
            `[N, T]` in [-1, 1] and `"label"` int `[N]`, e.g.
            `av_digits(root)["test"]`.
        out_dir: str, output folder (created if needed; files are
            overwritten).
        image_format: str, only `"png"`.
        sample_rate: int >= 1, sample rate written into the WAV headers (the
            `sample_rate` the split was loaded with).

    Returns:
        The path of `manifest.csv`.

    Example:

    >>> import tempfile
    >>> split = {"image": np.zeros((1, 28, 28, 1), np.uint8),
    ...          "audio": np.zeros((1, 80), np.float32), "label": np.array([3])}
    >>> path = write_av_digits_files(split, tempfile.mkdtemp())
    >>> open(path).read().splitlines()
    ['image,audio,label', 'images/0.png,audio/0.wav,3']
    """
    if image_format != "png":
        raise ValueError(
            f"`image_format` must be 'png'. Received: image_format={image_format!r}"
        )
    if not _is_int(sample_rate) or sample_rate < 1:
        raise ValueError(
            "`sample_rate` must be a positive integer. "
            f"Received: sample_rate={sample_rate!r}"
        )
    if not isinstance(split_dict, dict) or not {"image", "audio", "label"} <= set(
        split_dict
    ):
        keys = sorted(split_dict) if isinstance(split_dict, dict) else type(
            split_dict
        ).__name__
        raise ValueError(
            "`split_dict` must be a dict with 'image', 'audio' and 'label'. "
            f"Received: split_dict={keys}"
        )
    images = np.asarray(split_dict["image"])
    audio = np.asarray(split_dict["audio"])
    labels = np.asarray(split_dict["label"])
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            "`split_dict['image']` must be uint8 [N, H, W, 1]. "
            f"Received: dtype={images.dtype}, shape={images.shape}"
        )
    if audio.ndim != 2 or not len(images) == len(audio) == len(labels):
        raise ValueError(
            "`split_dict` arrays must share N: image [N, H, W, 1], audio "
            f"[N, T], label [N]. Received: image {np.shape(split_dict['image'])}, "
            f"audio {audio.shape}, label {labels.shape}"
        )
    import tensorflow as tf  # here: reading AV-digits needs no TensorFlow

    out_dir = os.fspath(out_dir)
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    manifest = os.path.join(out_dir, "manifest.csv")
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "audio", "label"])
        for i in range(len(labels)):
            image_rel = f"images/{i}.png"
            audio_rel = f"audio/{i}.wav"
            with open(os.path.join(out_dir, image_rel), "wb") as g:
                g.write(tf.io.encode_png(images[i][:, :, None]).numpy())
            with wave.open(os.path.join(out_dir, audio_rel), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(sample_rate)
                w.writeframes(pcm[i].tobytes())
            writer.writerow([image_rel, audio_rel, int(labels[i])])
    return manifest


# === Files ===


def _missing(path, what):
    return FileNotFoundError(
        f"AV-digits {what} not found: {path}. Expected under `root`: "
        f"{FSDD_RECORDINGS}/*.wav from the Free Spoken Digit Dataset "
        f"({FSDD_URL}) and {MNIST_IMAGES} + {MNIST_LABELS} from MNIST "
        f"({MNIST_URL} or any mirror of the IDX files)."
    )


def _list_clips(root):
    if not os.path.isdir(root):
        raise _missing(root, "data folder (`root`)")
    folder = os.path.join(root, FSDD_RECORDINGS)
    if not os.path.isdir(folder):
        raise _missing(folder, "FSDD recordings folder")
    clips = []
    for path in sorted(glob.glob(os.path.join(folder, "*.wav"))):
        name = os.path.basename(path)
        match = _CLIP_NAME.match(name)
        if not match:
            raise ValueError(
                f"FSDD file name must be '{{digit}}_{{speaker}}_{{index}}.wav'. "
                f"Received: {path}"
            )
        digit, speaker, index = match.groups()
        clips.append((int(digit), speaker, int(index), path))
    if not clips:
        raise _missing(os.path.join(folder, "*.wav"), "FSDD recordings")
    clips.sort(key=lambda c: (c[0], c[1], c[2]))
    return clips


def _split_of(index):
    if index <= TEST_MAX_INDEX:
        return "test"
    if index <= VAL_MAX_INDEX:
        return "val"
    return "train"


def _read_idx(path, kind):
    if not os.path.isfile(path):
        raise _missing(path, f"MNIST {kind} file")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"Corrupt MNIST {kind} file {path}: {err}") from err
    ndim = 3 if kind == "images" else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"Corrupt MNIST {kind} file {path}: {len(raw)} bytes, shorter "
            f"than the {header}-byte IDX header."
        )
    magic, *shape = struct.unpack(f">{1 + ndim}I", raw[:header])
    if magic != _IDX_MAGIC[kind]:
        raise ValueError(
            f"Corrupt MNIST {kind} file {path}: IDX magic number must be "
            f"{_IDX_MAGIC[kind]}. Received: {magic}"
        )
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise ValueError(
            f"Corrupt MNIST {kind} file {path}: header shape {tuple(shape)} "
            f"needs {header + size} bytes. Received: {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _load_mnist(root):
    images_path = os.path.join(root, MNIST_IMAGES)
    labels_path = os.path.join(root, MNIST_LABELS)
    images = _read_idx(images_path, "images")
    labels = _read_idx(labels_path, "labels")
    if len(images) != len(labels) or labels.max(initial=0) > 9:
        raise ValueError(
            f"MNIST files disagree: {images_path} holds {len(images)} images, "
            f"{labels_path} holds {len(labels)} labels (max "
            f"{int(labels.max(initial=0))}, expected digits 0-9)."
        )
    return images, labels.astype(np.int32)


def _read_wav(path, sample_rate, num_samples):
    try:
        with wave.open(path, "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"Corrupt WAV file {path}: {err}") from err
    if width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise ValueError(
            f"WAV file {path} must be 8- or 16-bit PCM. Received: {8 * width}-bit"
        )
    x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    if rate != sample_rate and len(x):
        n_out = max(1, int(round(len(x) * sample_rate / rate)))
        x = np.interp(
            np.arange(n_out) * (rate / sample_rate), np.arange(len(x)), x
        ).astype(np.float32)
    length = min(len(x), num_samples)
    out = np.zeros(num_samples, dtype=np.float32)
    out[:length] = x[:length]
    return out, length


# === Building a split ===


def _image_pools(image_labels, seed):
    """Per split and digit, a shuffled array of MNIST test-set row indices."""
    parts = stratified_split(image_labels, IMAGE_FRACTIONS, seed=seed)
    rng = np.random.default_rng([seed, 1])
    pools = {}
    for split, part in zip(SPLITS, parts):
        pools[split] = [
            rng.permutation(part[image_labels[part] == digit]) for digit in range(10)
        ]
    return pools


def _build_split(
    root, clips, labels, image_index, images, seed, difficulty,
    sample_rate, num_samples, image_size,
):
    n = len(clips)
    audio = np.zeros((n, num_samples), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int64)
    for i, clip in enumerate(clips):
        audio[i], lengths[i] = _read_wav(clip[3], sample_rate, num_samples)
    picked = images[image_index]
    if image_size != picked.shape[1]:
        picked = _resize(picked, image_size)
    picked = picked.copy()
    if difficulty > 0:
        for i, clip in enumerate(clips):
            rng = np.random.default_rng(
                [seed, 3, zlib.crc32(os.path.basename(clip[3]).encode())]
            )
            picked[i] = _degrade_image(picked[i], difficulty, rng)
            audio[i] = _degrade_audio(audio[i], lengths[i], difficulty, rng)
    return {
        "image": picked[..., None],
        "audio": audio,
        "label": labels,
        "speaker": np.array([c[1] for c in clips], dtype=object),
        "audio_path": np.array([c[3] for c in clips], dtype=object),
        "image_index": image_index,
    }


def _resize(images, size):
    """Bilinear resize (half-pixel centres) of uint8 `[N, H, W]` to `size`."""

    def matrix(n_in):
        pos = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        w = pos - low
        m = np.zeros((size, n_in))
        m[np.arange(size), low] += 1 - w
        m[np.arange(size), high] += w
        return m

    rows, cols = matrix(images.shape[1]), matrix(images.shape[2])
    out = np.einsum("ih,nhw,jw->nij", rows, images.astype(np.float64), cols)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# === Degradation ===


def _degrade_image(image, d, rng):
    x = image.astype(np.float64) / 255.0
    ys, xs = np.nonzero(image)
    area = IMAGE_OCCLUSION * d
    if len(ys) and area > 0:
        top, left = ys.min(), xs.min()
        box_h, box_w = ys.max() - top + 1, xs.max() - left + 1
        u = rng.uniform(area, 1.0)
        h = max(1, int(round(u * box_h)))
        w = max(1, int(round(area / u * box_w)))
        y0 = top + rng.integers(0, box_h - h + 1)
        x0 = left + rng.integers(0, box_w - w + 1)
        x[y0 : y0 + h, x0 : x0 + w] = 0.0
    x = x + rng.normal(0.0, IMAGE_NOISE_STD * d, size=x.shape)
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _degrade_audio(audio, length, d, rng):
    x = audio.astype(np.float64)
    power = np.mean(x[:length] ** 2) if length else 0.0
    span = int(round(AUDIO_TIME_MASK * d * length))
    if span > 0:
        start = rng.integers(0, length - span + 1)
        x[start : start + span] = 0.0
    snr_db = AUDIO_SNR_AT_0_DB - AUDIO_SNR_SLOPE_DB * d
    noise_std = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    x = x + rng.normal(0.0, 1.0, size=x.shape) * noise_std
    return np.clip(x, -1.0, 1.0).astype(np.float32)


# === Validation ===




def _check_args(difficulty, seed, sample_rate, max_seconds, image_size, max_per_split):
    if not _is_real(difficulty) or not 0.0 <= difficulty <= 1.0:
        raise ValueError(
            "`difficulty` must be a number in [0, 1]. "
            f"Received: difficulty={difficulty!r}"
        )
    check_seed(seed)
    if not _is_int(sample_rate) or sample_rate < 1000:
        raise ValueError(
            "`sample_rate` must be an integer >= 1000. "
            f"Received: sample_rate={sample_rate!r}"
        )
    if not _is_real(max_seconds) or max_seconds <= 0 or round(
        sample_rate * max_seconds
    ) < 1:
        raise ValueError(
            "`max_seconds` must be a positive number (at least one sample). "
            f"Received: max_seconds={max_seconds!r}"
        )
    if not _is_int(image_size) or image_size < 8:
        raise ValueError(
            "`image_size` must be an integer >= 8. "
            f"Received: image_size={image_size!r}"
        )
    if max_per_split is not None and (not _is_int(max_per_split) or max_per_split < 1):
        raise ValueError(
            "`max_per_split` must be None or a positive integer. "
            f"Received: max_per_split={max_per_split!r}"
        )
    return float(difficulty)
