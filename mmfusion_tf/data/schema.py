"""What the pipeline must produce for a `ModelConfig`: one field per model input."""

from dataclasses import dataclass
from typing import Optional

from mmfusion_tf.config import AudioModality, ImageModality, TabularModality, TextModality

DEFAULT_MAX_AUDIO_SECONDS = 5.0


@dataclass(frozen=True)
class Field:
    """One model input: `name` (feature key), `kind` and how to decode it.

    `kind` is "image" | "audio" | "text" | "numeric" | "categorical";
    `column` is the source column it is read from; `modality` the modality
    name it belongs to (its `<modality>_present` flag).
    """

    name: str
    kind: str
    column: str
    modality: str
    image_size: Optional[tuple] = None
    channels: int = 3
    sample_rate: Optional[int] = None
    num_samples: Optional[int] = None


@dataclass(frozen=True)
class LabelSpec:
    """How to read the label: column, task and the declared class names (if any)."""

    column: str
    task: str
    num_classes: Optional[int] = None
    names: Optional[tuple] = None


def fields_for(config, columns=None, max_audio_seconds=DEFAULT_MAX_AUDIO_SECONDS):
    """The `Field`s of every model input of `config` (presence flags excluded).

    Args:
        config: `ModelConfig`.
        columns: optional dict `{input name: source column}` for sources
            whose column names differ from the model's input names.
        max_audio_seconds: audio length when a modality has no `num_samples`.
    """
    columns = dict(columns or {})
    fields = []
    for m in config.modalities:
        if isinstance(m, ImageModality):
            v = m.resolved("image")
            size = tuple(m.input_shape[:2]) if None not in m.input_shape[:2] else tuple(v["image_size"])
            column, channels = columns.get(m.name, m.name), int(m.input_shape[2] or 3)
            fields.append(Field(m.name, "image", column, m.name, image_size=size, channels=channels))
        elif isinstance(m, AudioModality):
            v = m.resolved("audio")
            rate = int(v["sample_rate"])
            length = m.num_samples or int(round(rate * max_audio_seconds))
            column = columns.get(m.name, m.name)
            fields.append(Field(m.name, "audio", column, m.name, sample_rate=rate, num_samples=length))
        elif isinstance(m, TextModality):
            fields.append(Field(m.name, "text", columns.get(m.name, m.name), m.name))
        elif isinstance(m, TabularModality):
            for c in m.numeric_features:
                fields.append(Field(c, "numeric", columns.get(c, c), m.name))
            for c in m.categorical_features:
                fields.append(Field(c, "categorical", columns.get(c, c), m.name))
    unknown = sorted(set(columns) - {f.name for f in fields} - {"label"})
    if unknown:
        raise ValueError(f"`columns` maps unknown model inputs {unknown}. Model inputs: {[f.name for f in fields]}")
    return fields


def label_spec(config, column="label"):
    head = config.head
    names = tuple(head.labels) if head.labels else None
    num_classes = head.class_count
    return LabelSpec(column=column, task=head.task, num_classes=num_classes, names=names)

