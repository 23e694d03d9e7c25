"""`Limits`: the largest raw inputs an export accepts (no TensorFlow import: the CLI builds its flags from it).

Example:

>>> Limits(max_audio_seconds=10.0).validate().max_audio_seconds
10.0
"""

import dataclasses

AUDIO_INPUTS = ("wav", "waveform")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Largest raw inputs `serving_default` accepts; larger ones fail with INVALID_ARGUMENT naming the input.

    Each is checked in the exported graph (so TF Serving applies it too)
    before anything large is allocated: image sizes and WAV rates and
    durations are read from the file headers. `max_image_pixels` defaults to
    Pillow's decompression-bomb threshold; `max_text_length` counts UTF-8
    characters; numeric columns accept NaN (missing) and finite values
    within ±`max_abs_numeric`.

    Example:

    >>> Limits(max_audio_seconds=10.0, max_batch_size=64).validate().max_batch_size
    64
    """

    max_batch_size: int = 1024
    max_image_bytes: int = 20 * 2**20
    max_image_pixels: int = 89_478_485
    max_text_length: int = 10_000
    max_audio_seconds: float = 60.0
    min_audio_sample_rate: int = 1_000
    max_audio_sample_rate: int = 384_000
    max_abs_numeric: float = 1e12

    def validate(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"`{f.name}` must be a positive number. Received: {f.name}={value!r}")
            if f.type is int and not isinstance(value, int):
                raise ValueError(f"`{f.name}` must be an int. Received: {f.name}={value!r}")
        if self.min_audio_sample_rate > self.max_audio_sample_rate:
            raise ValueError(
                "`min_audio_sample_rate` must be <= `max_audio_sample_rate`. Received: "
                f"min_audio_sample_rate={self.min_audio_sample_rate}, "
                f"max_audio_sample_rate={self.max_audio_sample_rate}"
            )
        return self
