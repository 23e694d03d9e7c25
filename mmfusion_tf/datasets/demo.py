"""Procedural image + text + audio demo dataset whose label needs all three.

Each example has three hidden, independent and uniform attributes, each
rendered into one modality:

- `shape` (circle, square, triangle, cross) -> a 32x32 RGB image,
- `pitch` (330, 523, 784, 1175 Hz) -> a noisy tone with two harmonics,
- `topic` (food, vehicle, animal, weather) -> a short sentence with a keyword.

The label takes one bit from each attribute,
`label = 4 * (shape % 2) + 2 * (pitch % 2) + (topic % 2)`, so any single
modality caps accuracy at about 25 % (chance is 12.5 %) and only fusing all
three reaches about 100 %. `make_source_task` gives 4-way attribute tasks on
a separate random stream for pretraining the per-modality backbones.

Pure numpy, deterministic from `seed`, no download.

Example:

>>> from mmfusion_tf.datasets import demo
>>> data = demo.make_demo_data(num_examples=8, seed=0)
>>> data["image"].shape, data["audio"].shape, data["label"].dtype
((8, 32, 32, 3), (8, 8000), dtype('int32'))
>>> x, y = demo.make_source_task("text", num_examples=4)
>>> y.shape
(4,)
"""


import numpy as np
from mmfusion_tf._validation import check_int, check_seed, is_int as _is_int, is_real as _is_real
from mmfusion_tf.data.splits import stratified_split

# === Constants ===

SHAPES = ("circle", "square", "triangle", "cross")
PITCHES_HZ = (330.0, 523.0, 784.0, 1175.0)
PITCH_NOTES = ("E4", "C5", "G5", "D6")
TOPICS = ("food", "vehicle", "animal", "weather")
TOPIC_WORDS = {
    "food": ["apple", "bread", "cheese", "soup", "pasta", "salad", "cake", "rice"],
    "vehicle": ["car", "truck", "bus", "bike", "train", "tram", "van", "scooter"],
    "animal": ["dog", "cat", "horse", "bird", "fox", "sheep", "goat", "owl"],
    "weather": ["rain", "snow", "wind", "storm", "fog", "sun", "hail", "frost"],
}
NUM_CLASSES = 8

# Names of the one bit each attribute contributes to the label (attr % 2):
# circle/triangle have sloped or curved outlines, square/cross are made of
# axis-aligned boxes; E4/G5 versus C5/D6 are named by their note letters;
# food/animal come from living things, vehicle/weather do not.
_SHAPE_BITS = ("sloped", "boxy")
_PITCH_BITS = ("EG", "CD")
_TOPIC_BITS = ("biotic", "abiotic")

LABEL_NAMES = tuple(
    "-".join((_SHAPE_BITS[s], _PITCH_BITS[p], _TOPIC_BITS[t]))
    for s in (0, 1)
    for p in (0, 1)
    for t in (0, 1)
)  # index = 4 * shape_bit + 2 * pitch_bit + topic_bit

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Filler words are shared by all topics, so only the keyword carries the topic.
_TEMPLATES = (
    "the customer wrote about the {kw} {time}",
    "review {adj} {kw} seen near the {place}",
    "my friend saw the {adj} {kw} at the {place}",
    "someone mentioned the {kw} {time} close to the {place}",
    "they said the {kw} looked {adj}",
    "note about the {kw} reported {time} by a visitor",
    "we talked about the {adj} {kw} {time}",
    "the {kw} near the {place} seemed {adj}",
)
_ADJECTIVES = (
    "big", "small", "new", "strange", "lovely", "plain", "familiar", "curious"
)
_PLACES = ("station", "market", "school", "office", "bridge", "library")
_TIMES = ("yesterday", "today", "this morning", "last week")

# Seed streams: `np.random.SeedSequence([seed, stream])`, one per dataset kind,
# so target data and source tasks never share random draws.
_TARGET_STREAM = 0
_SOURCE_STREAMS = {"image": 1, "audio": 2, "text": 3}

_CHUNK = 512  # examples rendered at once; bounds memory for large datasets


# === Public API ===


def make_demo_data(
    num_examples=3000,
    seed=0,
    image_size=32,
    sample_rate=16000,
    audio_seconds=0.5,
    image_noise=0.1,
    audio_snr_db=10.0,
):
    """Generates the fused image + text + audio demo dataset.

    Args:
        num_examples: int, number of examples `N`.
        seed: int >= 0, seed of the (target) random stream.
        image_size: int >= 16, image height and width `S`.
        sample_rate: int >= 8000, audio samples per second.
        audio_seconds: float >= 0.05, audio clip length.
        image_noise: float >= 0, Gaussian pixel noise std as a fraction of 255.
        audio_snr_db: float, signal-to-noise ratio of the audio in dB.

    Returns:
        A dict of numpy arrays: `"image"` uint8 `[N, S, S, 3]`, `"text"`
        object array of str `[N]`, `"audio"` float32 `[N, T]` in [-1, 1] with
        `T = round(sample_rate * audio_seconds)`, `"label"` int32 `[N]` in
        0..7, and the hidden attributes `"shape"`, `"pitch"`, `"topic"`
        int32 `[N]` in 0..3.

    Example:

    >>> data = make_demo_data(num_examples=4, seed=0)
    >>> bool((data["label"] == 4 * (data["shape"] % 2)
    ...       + 2 * (data["pitch"] % 2) + data["topic"] % 2).all())
    True
    """
    check_int("num_examples", num_examples, minimum=1)
    check_seed(seed)
    _check_image_args(image_size, image_noise)
    num_samples = _check_audio_args(sample_rate, audio_seconds, audio_snr_db)

    attr_rng, image_rng, audio_rng, text_rng = _stream_rngs(seed, _TARGET_STREAM)
    shape, pitch, topic = (
        attr_rng.integers(0, 4, size=(3, num_examples)).astype(np.int32)
    )
    return {
        "image": _render_images(shape, image_rng, image_size, image_noise),
        "text": _render_texts(topic, text_rng),
        "audio": _render_audio(
            pitch, audio_rng, sample_rate, num_samples, audio_snr_db
        ),
        "label": demo_label(shape, pitch, topic),
        "shape": shape,
        "pitch": pitch,
        "topic": topic,
    }


def make_source_task(
    modality,
    num_examples=2000,
    seed=1,
    image_size=32,
    sample_rate=16000,
    audio_seconds=0.5,
    image_noise=0.1,
    audio_snr_db=10.0,
):
    """Generates a 4-way single-modality task for pretraining a backbone.

    The image task predicts `shape`, the audio task `pitch`, the text task
    `topic`. Samples come from a random stream of their own, so they never
    repeat the draws of `make_demo_data`, whatever the two seeds.

    Args:
        modality: str, one of `"image"`, `"audio"`, `"text"`.
        num_examples: int, number of examples `N`.
        seed: int >= 0, seed of this task's random stream.
        image_size, sample_rate, audio_seconds, image_noise, audio_snr_db:
            as in `make_demo_data`.

    Returns:
        `(x, y)`: `x` the modality's array as in `make_demo_data`, `y` int32
        `[N]` in 0..3.

    Example:

    >>> x, y = make_source_task("audio", num_examples=3, seed=1)
    >>> x.shape, x.dtype.name, y.dtype.name
    ((3, 8000), 'float32', 'int32')
    """
    if not isinstance(modality, str) or modality not in _SOURCE_STREAMS:
        raise ValueError(
            f"`modality` must be one of {sorted(_SOURCE_STREAMS)}. "
            f"Received: modality={modality!r}"
        )
    check_int("num_examples", num_examples, minimum=1)
    check_seed(seed)
    _check_image_args(image_size, image_noise)
    num_samples = _check_audio_args(sample_rate, audio_seconds, audio_snr_db)

    attr_rng, image_rng, audio_rng, text_rng = _stream_rngs(
        seed, _SOURCE_STREAMS[modality]
    )
    y = attr_rng.integers(0, 4, size=num_examples).astype(np.int32)
    if modality == "image":
        x = _render_images(y, image_rng, image_size, image_noise)
    elif modality == "audio":
        x = _render_audio(y, audio_rng, sample_rate, num_samples, audio_snr_db)
    else:
        x = _render_texts(y, text_rng)
    return x, y


def demo_label(shape, pitch, topic):
    """Combines the hidden attributes into the 8-way label.

    Args:
        shape, pitch, topic: int or int array, attributes in 0..3.

    Returns:
        int32 array, `4 * (shape % 2) + 2 * (pitch % 2) + topic % 2`.

    Example:

    >>> int(demo_label(3, 0, 1)), LABEL_NAMES[5]
    (5, 'boxy-EG-abiotic')
    """
    shape, pitch, topic = (np.asarray(a, dtype=np.int32) for a in (shape, pitch, topic))
    return (4 * (shape % 2) + 2 * (pitch % 2) + topic % 2).astype(np.int32)


def demo_vocabulary():
    """Returns a WordPiece vocabulary covering every word the demo text uses.

    The five special tokens come first (ids 0-4), then the words, sorted.

    Example:

    >>> vocab = demo_vocabulary()
    >>> vocab[:5], "owl" in vocab
    (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], True)
    """
    words = set(_ADJECTIVES) | set(_PLACES)
    for phrase in _TIMES:
        words.update(phrase.split())
    for template in _TEMPLATES:
        words.update(w for w in template.split() if not w.startswith("{"))
    for keywords in TOPIC_WORDS.values():
        words.update(keywords)
    return list(SPECIAL_TOKENS) + sorted(words)


def split_demo_data(data, fractions=(0.7, 0.15, 0.15), seed=0):
    """Splits a dataset dict into train/val/test, stratified by label.

    Every array in `data` is indexed along its first axis; the rows come from
    `mmfusion_tf.data.stratified_split` (within each label, shuffled and cut
    by `fractions`, rounded per label), in index order.

    Args:
        data: dict of arrays with equal first dimension, including `"label"`.
        fractions: 3 floats > 0 summing to 1, for (train, val, test).
        seed: int >= 0, seed of the shuffles.

    Returns:
        `(train, val, test)`, dicts with the keys of `data`.

    Example:

    >>> splits = split_demo_data(make_demo_data(num_examples=40))
    >>> [len(split["label"]) for split in splits]
    [29, 5, 6]
    """
    if not isinstance(data, dict) or "label" not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"`data` must be a dict of arrays with a 'label' key. Received: data={keys}"
        )
    arrays = {key: np.asarray(value) for key, value in data.items()}
    label = arrays["label"]
    if label.ndim != 1:
        raise ValueError(
            f"`data['label']` must be 1-D. Received: shape={label.shape}"
        )
    lengths = {k: (len(v) if v.ndim else None) for k, v in arrays.items()}
    if any(n != len(label) for n in lengths.values()):
        raise ValueError(
            f"All arrays in `data` must have the same first dimension. "
            f"Received: lengths={lengths}"
        )
    if isinstance(fractions, str) or np.ndim(fractions) != 1 or len(fractions) != 3:
        raise ValueError(
            "`fractions` must be 3 positive numbers (train, val, test) summing to 1. "
            f"Received: fractions={fractions!r}"
        )
    parts = stratified_split(label, fractions, seed=seed)  # validates values, names `fractions`
    return tuple({key: value[idx] for key, value in arrays.items()} for idx in parts)


# === Validation ===




def _check_image_args(image_size, image_noise):
    if not _is_int(image_size) or image_size < 16:
        raise ValueError(
            "`image_size` must be an integer >= 16. "
            f"Received: image_size={image_size!r}"
        )
    if not _is_real(image_noise) or image_noise < 0:
        raise ValueError(
            "`image_noise` must be a finite number >= 0. "
            f"Received: image_noise={image_noise!r}"
        )


def _check_audio_args(sample_rate, audio_seconds, audio_snr_db):
    # The third harmonic of the highest tone (3525 Hz) must stay below Nyquist.
    if not _is_int(sample_rate) or sample_rate < 8000:
        raise ValueError(
            "`sample_rate` must be an integer >= 8000. "
            f"Received: sample_rate={sample_rate!r}"
        )
    if not _is_real(audio_seconds) or audio_seconds < 0.05:
        raise ValueError(
            "`audio_seconds` must be a number >= 0.05. "
            f"Received: audio_seconds={audio_seconds!r}"
        )
    if not _is_real(audio_snr_db):
        raise ValueError(
            "`audio_snr_db` must be a finite number. "
            f"Received: audio_snr_db={audio_snr_db!r}"
        )
    return int(round(sample_rate * audio_seconds))


# === Rendering ===


def _stream_rngs(seed, stream):
    """One generator per part (attributes, image, audio, text) of a stream."""
    children = np.random.SeedSequence([int(seed), stream]).spawn(4)
    return [np.random.default_rng(child) for child in children]


def _render_images(shape, rng, size, noise):
    n = len(shape)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    coords = np.arange(size, dtype=np.float32)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        images[start:stop] = _render_image_chunk(
            shape[start:stop], rng, size, noise, coords
        )
    return images


def _render_image_chunk(shape, rng, size, noise, coords):
    n = len(shape)
    scale = size / 32.0
    col = coords[None, None, :]
    row = coords[None, :, None]

    # Background: random base colour, diagonal stripes and smooth blotches.
    bg = rng.uniform(0, 255, size=(n, 3)).astype(np.float32)
    angle = rng.uniform(0, np.pi, size=(n, 1, 1))
    freq = rng.uniform(0.2, 0.6, size=(n, 1, 1)) / scale
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    stripes = np.cos(
        freq * (np.cos(angle) * col + np.sin(angle) * row) + phase
    ).astype(np.float32)
    stripe_amp = rng.uniform(5, 15, size=(n, 1, 1, 3)).astype(np.float32)
    blotches = _smooth_field(rng, n, size) * np.float32(12)
    texture = stripes[..., None] * stripe_amp + blotches[..., None]

    # Foreground colour: at least 170 (of 441) away from the background.
    fg = rng.uniform(0, 255, size=(n, 3)).astype(np.float32)
    close = np.linalg.norm(fg - bg, axis=1) < 170
    while close.any():
        fg[close] = rng.uniform(0, 255, size=(int(close.sum()), 3))
        close = np.linalg.norm(fg - bg, axis=1) < 170

    # Shape geometry: "radius" r, centre keeps the whole shape inside.
    r = rng.uniform(6, 11, size=n).astype(np.float32) * scale
    cx = rng.uniform(r + 1, size - 2 - r).astype(np.float32)
    cy = rng.uniform(r + 1, size - 2 - r).astype(np.float32)
    r3 = r[:, None, None]
    dx = col - cx[:, None, None]
    dy = row - cy[:, None, None]
    adx, ady = np.abs(dx), np.abs(dy)
    half = 0.886 * r3  # square with the area of the circle
    bar = 0.35 * r3
    base = 0.8 * r3  # triangle: apex at -r, base at +0.8r, half-width r
    masks = (
        dx * dx + dy * dy <= r3 * r3,
        (adx <= half) & (ady <= half),
        (dy <= base) & (adx <= (dy + r3) * (r3 / (base + r3))),
        ((adx <= bar) & (ady <= r3)) | ((ady <= bar) & (adx <= r3)),
    )
    sel = shape[:, None, None]
    mask = np.select([sel == k for k in range(4)], masks, default=False)

    background = bg[:, None, None, :] + texture
    image = np.where(mask[..., None], fg[:, None, None, :], background)
    if noise > 0:
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(
            noise * 255.0
        )
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _smooth_field(rng, n, size):
    """Bilinearly upsampled 4x4 uniform noise in [-1, 1], shape [n, size, size]."""
    grid = rng.uniform(-1, 1, size=(n, 4, 4)).astype(np.float32)
    pos = np.linspace(0, 3, size, dtype=np.float32)
    lo = np.minimum(pos.astype(int), 2)
    w = (pos - lo)[None, :]
    rows = grid[:, lo, :] * (1 - w)[..., None] + grid[:, lo + 1, :] * w[..., None]
    return rows[:, :, lo] * (1 - w)[:, None, :] + rows[:, :, lo + 1] * w[:, None, :]


def _render_audio(pitch, rng, sample_rate, num_samples, snr_db):
    n = len(pitch)
    audio = np.empty((n, num_samples), dtype=np.float32)
    t = (np.arange(num_samples, dtype=np.float32) / np.float32(sample_rate))[None, :]
    duration = num_samples / sample_rate
    freqs = np.asarray(PITCHES_HZ, dtype=np.float32)
    noise_scale = 10.0 ** (-float(snr_db) / 20.0)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        f0 = freqs[pitch[start:stop]][:, None]
        phases = rng.uniform(0, 2 * np.pi, size=(3, m, 1)).astype(np.float32)
        amp, tone_len, onset, attack, release = (
            rng.uniform(low, high, size=(m, 1)).astype(np.float32)
            for low, high in ((0.3, 0.8), (0.5, 0.8), (0, 1), (0.05, 0.2), (0.1, 0.3))
        )
        tone_len *= np.float32(duration)  # tone lasts 50-80 % of the clip
        onset *= np.float32(duration) - tone_len
        attack *= tone_len
        release *= tone_len

        # Fundamental plus 2nd and 3rd harmonic, peak at most `amp`.
        theta = np.float32(2 * np.pi) * f0 * t
        wave = np.sin(theta + phases[0])
        wave += np.float32(0.5) * np.sin(2 * theta + phases[1])
        wave += np.float32(0.25) * np.sin(3 * theta + phases[2])

        # Smooth envelope: smoothstep attack and release, gentle linear decay.
        since = t - onset
        rise = _smoothstep(since / attack)
        fall = _smoothstep((tone_len - since) / release)
        decay = 1 - np.float32(0.4) * np.clip(since / tone_len, 0, 1)
        signal = wave * (rise * fall * decay * (amp / np.float32(1.75)))

        rms = np.sqrt(np.mean(signal * signal, axis=1, keepdims=True))
        noise = rng.standard_normal((m, num_samples), dtype=np.float32)
        signal += noise * (rms * np.float32(noise_scale))
        np.clip(signal, -1, 1, out=audio[start:stop])
    return audio


def _smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _render_texts(topic, rng):
    n = len(topic)
    words = [TOPIC_WORDS[name] for name in TOPICS]
    template = rng.integers(0, len(_TEMPLATES), size=n)
    keyword = rng.integers(0, 8, size=n)
    adjective = rng.integers(0, len(_ADJECTIVES), size=n)
    place = rng.integers(0, len(_PLACES), size=n)
    when = rng.integers(0, len(_TIMES), size=n)
    texts = np.empty(n, dtype=object)
    for i in range(n):
        texts[i] = _TEMPLATES[template[i]].format(
            kw=words[topic[i]][keyword[i]],
            adj=_ADJECTIVES[adjective[i]],
            place=_PLACES[place[i]],
            time=_TIMES[when[i]],
        )
    return texts
