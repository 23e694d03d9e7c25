"""Plain dataclasses describing a fusion model, with YAML/JSON round-trips.

A `ModelConfig` lists the modalities (each with its encoder settings), the
fusion method and the task head. `build_model(config)` turns it into a
Keras functional model; `ModelConfig.from_yaml` / `to_yaml` read and write
the same structure, and unknown keys are errors that name the key and the
allowed ones.

Example:

>>> config = ModelConfig(
...     modalities=[
...         ImageModality(name="image", preset="mobilenet_v3_small"),
...         TextModality(name="text", preset="small_bert_l2_h128"),
...     ],
...     fusion=FusionConfig(method="weighted_sum", projection_dim=128),
...     head=HeadConfig(task="multiclass", labels=["cat", "dog", "fox"]),
... )
>>> ModelConfig.from_yaml(config.to_yaml()) == config
True
"""

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import yaml

TASKS = ("binary", "multiclass", "multilabel", "regression")


def _check_keys(cls, data, where):
    if not isinstance(data, dict):
        raise TypeError(f"{where} must be a mapping. Received: {type(data).__name__} {data!r}")
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} in {where}. Allowed keys: {allowed}")


def _from_dict(cls, data, where):
    _check_keys(cls, data, where)
    return cls(**data)


# === Modalities ===


@dataclass
class _Modality:
    def validate(self, where):
        if not self.name or not str(self.name).isidentifier():
            raise ValueError(f"{where}.name must be an identifier (it names the model input). Received: name={self.name!r}")


@dataclass
class _HubModality(_Modality):
    def resolved(self, kind):
        """Encoder settings with the preset filled in (explicit fields win)."""
        from mmfusion_tf.presets import encoder_arguments

        values = encoder_arguments(self.preset, kind) if self.preset else {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in values and value is None:
                continue
            values[f.name] = value
        return values

    def validate(self, where):
        super().validate(where)
        if not self.handle and not self.preset:
            raise ValueError(f"{where} needs `handle` (TF-Hub handle or local folder) or `preset`.")


@dataclass
class ImageModality(_HubModality):
    """An image input (decoded pixels in [0, 255]) encoded by a TF-Hub feature-vector module."""

    name: str = "image"
    handle: Optional[str] = None
    preset: Optional[str] = None
    trainable: bool = False
    output_key: Optional[str] = None
    image_size: Optional[list] = None
    value_range: Optional[list] = None
    channels: int = 3
    input_shape: list = field(default_factory=lambda: [None, None, 3])
    input_dtype: str = "uint8"


@dataclass
class TextModality(_HubModality):
    """A raw UTF-8 string input encoded by a TF-Hub text module (tokenised in-model)."""

    name: str = "text"
    handle: Optional[str] = None
    preset: Optional[str] = None
    preprocessor: Optional[str] = None
    trainable: bool = False
    output_key: Optional[str] = None
    pooling: str = "output_key"


@dataclass
class AudioModality(_HubModality):
    """A float32 waveform input encoded by a frame-embedding TF-Hub module and pooled."""

    name: str = "audio"
    handle: Optional[str] = None
    preset: Optional[str] = None
    trainable: bool = False
    output_key: Optional[Union[str, int]] = None
    sample_rate: Optional[int] = None
    num_samples: Optional[int] = None
    pooling: str = "mean"
    batched: Optional[bool] = None


@dataclass
class TabularModality(_Modality):
    """Typed table columns: numeric (standardised) and categorical (embedded)."""

    name: str = "tabular"
    numeric_features: list = field(default_factory=list)
    categorical_features: dict = field(default_factory=dict)
    numeric_stats: dict = field(default_factory=dict)
    embedding_dim: int = 8
    missing_indicators: bool = True

    def validate(self, where):
        super().validate(where)
        if not self.numeric_features and not self.categorical_features:
            raise ValueError(f"{where} needs `numeric_features` or `categorical_features`.")


MODALITY_KINDS = {
    "image": ImageModality,
    "text": TextModality,
    "audio": AudioModality,
    "tabular": TabularModality,
}


def modality_kind(modality):
    """The kind name ("image", "text", ...) of a modality config."""
    for kind, cls in MODALITY_KINDS.items():
        if type(modality) is cls:
            return kind
    raise TypeError(f"Not a modality config: {modality!r}")


def modality_from_dict(data, where="modality"):
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"{where} needs a `kind`, one of {list(MODALITY_KINDS)}. Received: {data!r}")
    data = dict(data)
    kind = data.pop("kind")
    if kind not in MODALITY_KINDS:
        raise ValueError(f"{where}.kind={kind!r} is not allowed. Allowed values: {list(MODALITY_KINDS)}")
    return _from_dict(MODALITY_KINDS[kind], data, where)


# === Fusion and head ===


@dataclass
class FusionConfig:
    """Fusion method and its arguments.

    `method` is a name of `mmfusion_tf.fusion.get` ("weighted_sum", "concat",
    "attention", "gated", "tensor", "low_rank", "transformer", "late");
    `options` are passed to the layer (e.g. `{"weights": [0.5, 0.3, 0.2],
    "mode": "fixed"}`, `{"rank": 4}`, `{"num_heads": 4}`).
    """

    method: str = "weighted_sum"
    projection_dim: int = 64
    options: dict = field(default_factory=dict)
    modality_dropout: float = 0.0

    def validate(self, where="fusion"):
        from mmfusion_tf import fusion

        try:
            layer_cls = fusion.get(self.method)
        except ValueError as error:
            raise ValueError(f"{where}.method={self.method!r} is not allowed. Allowed values: {fusion.available()}") from error
        if int(self.projection_dim) <= 0:
            raise ValueError(f"{where}.projection_dim must be positive. Received: projection_dim={self.projection_dim}")
        if not 0.0 <= float(self.modality_dropout) < 1.0:
            raise ValueError(f"{where}.modality_dropout must be in [0, 1). Received: modality_dropout={self.modality_dropout}")
        import inspect

        params = inspect.signature(layer_cls.__init__).parameters
        allowed = sorted(p for p in params if p not in ("self", "kwargs", "projection_dim", "num_outputs", "activation"))
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in {where}.options for method {self.method!r}. Allowed keys: {allowed}")


@dataclass
class HeadConfig:
    """Task head: `task` in binary | multiclass | multilabel | regression."""

    task: str = "multiclass"
    num_classes: Optional[int] = None
    labels: Optional[list] = None
    hidden_units: list = field(default_factory=lambda: [64])
    dropout: float = 0.1

    @property
    def num_outputs(self):
        """Width of the final layer."""
        if self.task in ("regression", "binary"):
            return 1
        return self.num_classes if self.num_classes is not None else len(self.labels)

    def validate(self, where="head"):
        if self.task not in TASKS:
            raise ValueError(f"{where}.task={self.task!r} is not allowed. Allowed values: {list(TASKS)}")
        if self.task in ("multiclass", "multilabel"):
            if self.num_classes is None and not self.labels:
                raise ValueError(f"{where} needs `num_classes` or `labels` for task={self.task!r}.")
            if self.labels and self.num_classes is not None and len(self.labels) != self.num_classes:
                raise ValueError(
                    f"{where}.labels has {len(self.labels)} names but num_classes={self.num_classes}."
                )
            if self.num_outputs < 2:
                raise ValueError(f"{where} needs at least 2 classes for task={self.task!r}. Received: {self.num_outputs}")
        if self.task == "binary" and self.labels and len(self.labels) != 2:
            raise ValueError(f"{where}.labels must have 2 names for task='binary'. Received: {self.labels}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"{where}.dropout must be in [0, 1). Received: dropout={self.dropout}")


# === Model ===


@dataclass
class ModelConfig:
    """Everything `build_model` needs: modalities, fusion, head.

    `presence_inputs=True` adds a float input `<name>_present` per modality
    (1 present, 0 missing), which the fusion layer uses to ignore missing
    modalities and renormalise its weights.
    """

    modalities: list = field(default_factory=list)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    presence_inputs: bool = False
    name: str = "mmfusion_model"

    @property
    def modality_names(self):
        return [m.name for m in self.modalities]

    def validate(self):
        """Raises a ValueError naming the key if the config cannot be built."""
        if not self.modalities:
            raise ValueError("`modalities` must list at least one modality.")
        for i, modality in enumerate(self.modalities):
            modality.validate(f"modalities[{i}]")
        names = self.input_names()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Input names must be unique across modalities. Duplicated: {duplicates}")
        self.fusion.validate()
        self.head.validate()
        return self

    def input_names(self):
        """Names of the model inputs (= tf.data feature keys)."""
        names = []
        for m in self.modalities:
            if isinstance(m, TabularModality):
                names += list(m.numeric_features) + list(m.categorical_features)
            else:
                names.append(m.name)
        if self.presence_inputs:
            names += [f"{m.name}_present" for m in self.modalities]
        return names

    # --- serialisation ---

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["modalities"] = [{"kind": modality_kind(m), **dataclasses.asdict(m)} for m in self.modalities]
        return data

    @classmethod
    def from_dict(cls, data):
        _check_keys(cls, data, "model config")
        data = dict(data)
        data["modalities"] = [
            m if not isinstance(m, dict) else modality_from_dict(m, f"modalities[{i}]")
            for i, m in enumerate(data.get("modalities", []))
        ]
        if isinstance(data.get("fusion"), dict):
            data["fusion"] = _from_dict(FusionConfig, data["fusion"], "fusion")
        if isinstance(data.get("head"), dict):
            data["head"] = _from_dict(HeadConfig, data["head"], "head")
        return cls(**data)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def to_yaml(self, path=None):
        """YAML text of the config; written to `path` when given."""
        text = yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @classmethod
    def from_yaml(cls, text_or_path):
        """Config from YAML text or a `.yaml`/`.yml` file path."""
        text = text_or_path
        if isinstance(text_or_path, str) and text_or_path.endswith((".yaml", ".yml")):
            with open(text_or_path, encoding="utf-8") as f:
                text = f.read()
        return cls.from_dict(yaml.safe_load(text))


def _plain(value: Any):
    """Tuples -> lists, so YAML stays plain (safe_dump rejects tuples)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
