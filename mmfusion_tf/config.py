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
            raise ValueError(
                f"{where}.name must be an identifier (it names the model input). Received: name={self.name!r}"
            )


@dataclass
class _HubModality(_Modality):
    def resolved(self, kind):
        """Encoder settings (a new dict): explicit fields win over the preset, the
        preset over the encoder defaults (`presets.ENCODER_DEFAULTS`)."""
        from mmfusion_tf.presets import encoder_arguments, encoder_defaults

        values = encoder_defaults(kind)
        if self.preset:
            values.update(encoder_arguments(self.preset, kind))
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
    max_length: Optional[int] = None  # tokens kept of the preprocessor's output (None: all it pads to)

    def validate(self, where):
        super().validate(where)
        if self.max_length is not None:
            if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 3:
                raise ValueError(f"{where}.max_length must be an int >= 3 (tokens, with [CLS] and [SEP]) or null. "
                                 f"Received: max_length={self.max_length!r}")
            if not self.resolved("text").get("preprocessor"):
                raise ValueError(f"{where}.max_length needs a BERT-style `preprocessor` (it shortens its output).")


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

    `method` is a name of `mmfusion_tf.fusion.available()` ("weighted_sum",
    "concat", "attention", "gated", "tensor", "low_rank", "transformer",
    "late"), or "auto": `compare_fusion` (what `mmfusion train` runs for it)
    trains each modality alone and a short list of methods, and keeps a fused
    model only when it validates at least as well as the best single
    modality; `options` are passed to the layer, which declares the ones it
    takes (`fusion.spec(method).options`, e.g. `{"weights": [0.5, 0.3, 0.2],
    "mode": "fixed"}`, `{"rank": 4}`, `{"num_heads": 4}`).
    `modality_dropout` (default 0.3) drops each modality of a training
    example with that probability (never all of them; models with one
    modality ignore it), so no modality can carry the model alone and a
    missing one at serving time is a situation the model has seen; 0 turns
    it off.
    """

    method: str = "weighted_sum"
    projection_dim: int = 64
    options: dict = field(default_factory=dict)
    modality_dropout: float = 0.3

    def validate(self, where="fusion"):
        # Imported here: the layers bring TensorFlow, which `mmfusion --help` does without.
        from mmfusion_tf import fusion

        if self.method == "auto":
            if self.options:
                raise ValueError(f"{where}.options must be empty with method 'auto'. Received: {self.options}")
        else:
            fusion.spec(self.method, f"{where}.method", also=["auto"])  # an unknown method lists the allowed ones
            fusion.check_options(self.method, self.options, f"{where}.options")
        if int(self.projection_dim) <= 0:
            raise ValueError(f"{where}.projection_dim must be positive. Received: projection_dim={self.projection_dim}")
        if not 0.0 <= float(self.modality_dropout) < 1.0:
            raise ValueError(
                f"{where}.modality_dropout must be in [0, 1). Received: modality_dropout={self.modality_dropout}"
            )


@dataclass
class HeadConfig:
    """Task head: `task` in binary | multiclass | multilabel | regression.

    `modality_heads=True` adds one small head per modality (on its encoder
    features) next to the fused head: each gets its own loss while training
    (`training.balancing` weighs them), and the model's prediction is a
    decision blend of the fused and per-modality heads whose weights (per
    pattern of present modalities) and temperature are fitted on validation
    (`training.calibrate`). With it off, the blend is the fused head alone.

    Regression: with `standardize_target`, the head predicts in standard
    units and rescales with `target_stats` `[mean, std]` (learned from the
    training labels when None), so losses see unit-scale targets while
    predictions, metrics and exports stay in label units.
    """

    task: str = "multiclass"
    num_classes: Optional[int] = None
    labels: Optional[list] = None
    hidden_units: list = field(default_factory=lambda: [64])
    dropout: float = 0.1
    modality_heads: bool = True
    standardize_target: bool = True
    target_stats: Optional[list] = None

    @property
    def class_count(self):
        """Number of classes the labels take (2 for binary), None for regression."""
        if self.task == "regression":
            return None
        return 2 if self.task == "binary" else self.num_outputs

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
                raise ValueError(
                    f"{where} needs at least 2 classes for task={self.task!r}. Received: {self.num_outputs}"
                )
        if self.task == "binary" and self.labels and len(self.labels) != 2:
            raise ValueError(f"{where}.labels must have 2 names for task='binary'. Received: {self.labels}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"{where}.dropout must be in [0, 1). Received: dropout={self.dropout}")
        if self.target_stats is not None:
            if self.task != "regression":
                raise ValueError(f"{where}.target_stats applies to task='regression'. Received: task={self.task!r}")
            if len(self.target_stats) != 2 or not float(self.target_stats[1]) > 0:
                raise ValueError(
                    f"{where}.target_stats must be [mean, std] with std > 0. Received: {self.target_stats}"
                )

    @property
    def target_scale(self):
        """`(mean, std)` the regression head rescales with, or None (no standardisation)."""
        if self.task != "regression" or not self.standardize_target or self.target_stats is None:
            return None
        return float(self.target_stats[0]), float(self.target_stats[1])


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
        return dump_yaml(self.to_dict(), path)

    @classmethod
    def from_yaml(cls, text_or_path):
        """Config from YAML text or a `.yaml`/`.yml` file path."""
        text = text_or_path
        if isinstance(text_or_path, str) and text_or_path.endswith((".yaml", ".yml")):
            with open(text_or_path, encoding="utf-8") as f:
                text = f.read()
        return cls.from_dict(yaml.safe_load(text))


# === Data and training (what `mmfusion train CONFIG.yaml` reads) ===

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
LR_SCHEDULES = ("constant", "cosine")
CONTRASTIVE_MODES = ("alongside", "warmup")
BALANCING = ("none", "gradient_blending")


def _check_choice(value, allowed, where):
    if value not in allowed:
        raise ValueError(f"{where}={value!r} is not allowed. Allowed values: {list(allowed)}")


@dataclass
class DataConfig:
    """Where the examples come from and how they are batched.

    `train` is a CSV/TSV/JSONL manifest or TFRecord glob; `validation` and
    `test` likewise. When only `train` is given it is split with
    `split` fractions (train/validation/test, stratified, seeded), keeping
    every value of `group_column` (e.g. a speaker id) in one split.
    Relative paths are read relative to the experiment YAML file.
    """

    train: Optional[str] = None
    validation: Optional[str] = None
    test: Optional[str] = None
    split: list = field(default_factory=lambda: [0.7, 0.2, 0.1])
    group_column: Optional[str] = None
    label_column: str = "label"
    columns: dict = field(default_factory=dict)
    batch_size: int = 32
    cache: Optional[str] = "auto"
    augment: bool = True
    on_error: str = "raise"
    missing_numeric: str = "nan"

    def validate(self, where="data"):
        if len(self.split) != 3 or any(float(f) < 0 for f in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            raise ValueError(
                f"{where}.split must be 3 non-negative fractions summing to 1. Received: split={self.split}"
            )
        if int(self.batch_size) <= 0:
            raise ValueError(f"{where}.batch_size must be positive. Received: batch_size={self.batch_size}")
        _check_choice(self.on_error, ("raise", "skip"), f"{where}.on_error")
        _check_choice(self.missing_numeric, ("nan", "zero", "error"), f"{where}.missing_numeric")


@dataclass
class StageConfig:
    """One transfer-learning stage: an ordinary `fit` with its own rate.

    `backbones` says which encoder weights train: "frozen", "all", or a
    fraction in (0, 1] = the top part of each hub module's variables (in
    the module's creation order, bottom to top).
    """

    name: str = "frozen"
    epochs: int = 5
    learning_rate: float = 1e-3
    backbones: Union[str, float] = "frozen"
    lr_schedule: str = "constant"
    warmup_epochs: int = 0

    def validate(self, where="stage"):
        if not str(self.name).replace("-", "_").isidentifier():
            raise ValueError(f"{where}.name must be an identifier. Received: name={self.name!r}")
        if int(self.epochs) < 0:
            raise ValueError(f"{where}.epochs must be >= 0. Received: epochs={self.epochs}")
        if float(self.learning_rate) <= 0:
            raise ValueError(f"{where}.learning_rate must be positive. Received: learning_rate={self.learning_rate}")
        if isinstance(self.backbones, str):
            _check_choice(self.backbones, ("frozen", "all"), f"{where}.backbones")
        elif not 0.0 < float(self.backbones) <= 1.0:
            raise ValueError(
                f"{where}.backbones must be 'frozen', 'all' or a fraction in (0, 1]. "
                f"Received: backbones={self.backbones}"
            )
        _check_choice(self.lr_schedule, LR_SCHEDULES, f"{where}.lr_schedule")


def default_stages():
    """Frozen backbones for 5 epochs at 1e-3, then all fine-tuned for 3 at 1e-4."""
    return [
        StageConfig(name="frozen", epochs=5, learning_rate=1e-3, backbones="frozen"),
        StageConfig(name="fine_tune", epochs=3, learning_rate=1e-4, backbones="all", lr_schedule="cosine"),
    ]


@dataclass
class ContrastiveConfig:
    """Cross-modal InfoNCE alignment (CLIP-style, symmetric, learnable temperature).

    `pairs` lists modality-name pairs (default: every pair); `weight` is λ
    of the auxiliary loss. `mode="alongside"` adds it to the task loss in
    every stage; `mode="warmup"` trains it alone (backbones unfrozen) for
    `warmup_epochs` before the task stages.
    """

    weight: float = 0.0
    pairs: Optional[list] = None
    projection_dim: int = 64
    temperature: float = 0.07
    mode: str = "alongside"
    warmup_epochs: int = 2
    warmup_learning_rate: float = 1e-4

    @property
    def enabled(self):
        return float(self.weight) > 0

    def validate(self, modality_names, where="training.contrastive"):
        if float(self.weight) < 0:
            raise ValueError(f"{where}.weight must be >= 0. Received: weight={self.weight}")
        if float(self.temperature) <= 0:
            raise ValueError(f"{where}.temperature must be positive. Received: temperature={self.temperature}")
        _check_choice(self.mode, CONTRASTIVE_MODES, f"{where}.mode")
        for pair in self.pairs or []:
            if len(pair) != 2 or pair[0] == pair[1] or any(name not in modality_names for name in pair):
                raise ValueError(
                    f"{where}.pairs must hold pairs of two different modality names from {list(modality_names)}. "
                    f"Received: {pair}"
                )
        if self.enabled and len(modality_names) < 2:
            raise ValueError(f"{where} needs at least two modalities. The model has {list(modality_names)}")


@dataclass
class TrainingConfig:
    """How to train: stages, regularisation, precision, devices, callbacks.

    `l2_sp` is α of L2-SP (penalises the distance of backbone weights from
    their pretrained values); `class_weights` is None or "balanced";
    `early_stopping_patience` 0 turns early stopping off; `tpu` names the
    TPU of `strategy: tpu` ("local" on a TPU VM, a TPU name or a `grpc://`
    address; None lets the cluster resolver find it).

    `select_best` keeps the weights that scored best on `monitor` over all
    stages (not the last stage's). With `model.head.modality_heads`, each
    per-modality head's loss starts at weight `auxiliary_weight` (the fused
    head's at 1) and `balancing="gradient_blending"` re-weighs them after
    every epoch from their overfitting-to-generalisation ratio (Wang et al.,
    CVPR 2020); `calibrate` fits the decision blend and the temperature on
    the validation split after training.
    """

    stages: list = field(default_factory=default_stages)
    seed: int = 0
    precision: str = "auto"
    strategy: str = "default"
    tpu: Optional[str] = None
    jit_compile: bool = False
    l2_sp: float = 0.0
    label_smoothing: float = 0.0
    class_weights: Optional[str] = None
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    early_stopping_patience: int = 0
    monitor: str = "val_loss"
    tensorboard: bool = True
    checkpoints: bool = False  # true: keep per-stage and per-epoch weights (a lean run keeps model.keras)
    select_best: bool = True
    balancing: str = "none"
    auxiliary_weight: float = 1.0
    calibrate: bool = True

    def validate(self, modality_names=(), where="training"):
        if not self.stages:
            raise ValueError(f"{where}.stages must list at least one stage.")
        for i, stage in enumerate(self.stages):
            stage.validate(f"{where}.stages[{i}]")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}.stages names must be unique. Received: {names}")
        _check_choice(self.precision, PRECISIONS, f"{where}.precision")
        _check_choice(self.strategy, STRATEGIES, f"{where}.strategy")
        if self.tpu is not None and self.strategy != "tpu":
            raise ValueError(
                f"{where}.tpu={self.tpu!r} is only used with strategy 'tpu'. Received: strategy={self.strategy!r}"
            )
        _check_choice(self.class_weights, (None, "balanced"), f"{where}.class_weights")
        if float(self.l2_sp) < 0:
            raise ValueError(f"{where}.l2_sp must be >= 0. Received: l2_sp={self.l2_sp}")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            raise ValueError(
                f"{where}.label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing}"
            )
        _check_choice(self.balancing, BALANCING, f"{where}.balancing")
        if float(self.auxiliary_weight) < 0:
            raise ValueError(
                f"{where}.auxiliary_weight must be >= 0. Received: auxiliary_weight={self.auxiliary_weight}"
            )
        if int(self.early_stopping_patience) < 0:
            raise ValueError(f"{where}.early_stopping_patience must be >= 0. Received: {self.early_stopping_patience}")
        self.contrastive.validate(modality_names, f"{where}.contrastive")

    @classmethod
    def from_dict(cls, data, where="training"):
        _check_keys(cls, data, where)
        data = dict(data)
        data["stages"] = [
            s if not isinstance(s, dict) else _from_dict(StageConfig, s, f"{where}.stages[{i}]")
            for i, s in enumerate(data.get("stages", default_stages()))
        ]
        if isinstance(data.get("contrastive"), dict):
            data["contrastive"] = _from_dict(ContrastiveConfig, data["contrastive"], f"{where}.contrastive")
        return cls(**data)


@dataclass
class ExperimentConfig:
    """A whole run: `model` (ModelConfig), `data` (DataConfig), `training`.

    This is the YAML that `mmfusion train CONFIG.yaml` reads:

        model: {modalities: [...], fusion: {...}, head: {...}}
        data: {train: train.csv, batch_size: 32}
        training: {stages: [{name: frozen, epochs: 5, learning_rate: 0.001}], precision: auto}

    Example:

    >>> experiment = ExperimentConfig.from_yaml("experiment.yaml")
    >>> experiment.validate().model.modality_names
    ['image', 'text']
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    base_dir: Optional[str] = None

    def validate(self):
        """Checks every part; errors name the key and the allowed values."""
        self.model.validate()
        self.data.validate()
        self.training.validate(self.model.modality_names)
        task = self.model.head.task
        if task == "regression" and self.training.label_smoothing:
            raise ValueError(
                f"training.label_smoothing={self.training.label_smoothing} applies to classification heads, "
                f"not model.head.task={task!r}. Set it to 0."
            )
        if task not in ("multiclass", "binary") and self.training.class_weights:
            raise ValueError(
                f"training.class_weights={self.training.class_weights!r} needs a multiclass or binary head. "
                f"Received: model.head.task={task!r}"
            )
        return self

    def resolve_path(self, path):
        """`path` relative to the YAML file the config came from."""
        import os

        if path is None or os.path.isabs(path) or not self.base_dir or "://" in str(path):
            return path
        return os.path.join(self.base_dir, path)

    def with_absolute_paths(self):
        """A copy whose data paths no longer depend on where the YAML was."""
        import copy
        import os

        resolved = copy.deepcopy(self)
        for key in ("train", "validation", "test"):
            path = self.resolve_path(getattr(self.data, key))
            if isinstance(path, str) and "://" not in path:
                path = os.path.abspath(path)
            setattr(resolved.data, key, path)
        resolved.base_dir = None
        return resolved

    def to_dict(self):
        return {
            "model": self.model.to_dict(),
            "data": dataclasses.asdict(self.data),
            "training": dataclasses.asdict(self.training),
        }

    @classmethod
    def from_dict(cls, data, base_dir=None):
        _check_keys(cls, data, "experiment config")
        data = dict(data)
        if "base_dir" in data:
            raise ValueError(
                "Unknown key(s) ['base_dir'] in experiment config. Allowed keys: ['model', 'data', 'training']"
            )
        model = data.get("model", {})
        return cls(
            model=model if isinstance(model, ModelConfig) else ModelConfig.from_dict(model),
            data=(
                _from_dict(DataConfig, data.get("data", {}), "data")
                if isinstance(data.get("data", {}), dict) else data["data"]
            ),
            training=(
                TrainingConfig.from_dict(data.get("training", {}))
                if isinstance(data.get("training", {}), dict) else data["training"]
            ),
            base_dir=base_dir,
        )

    def to_yaml(self, path=None):
        """YAML text of the experiment; written to `path` when given."""
        return dump_yaml(self.to_dict(), path)

    @classmethod
    def from_yaml(cls, text_or_path):
        """Experiment from YAML text or a file (relative data paths follow the file)."""
        import os

        base_dir = None
        text = text_or_path
        if isinstance(text_or_path, (str, os.PathLike)) and str(text_or_path).endswith((".yaml", ".yml")):
            if not os.path.exists(text_or_path):
                raise FileNotFoundError(f"Experiment config not found: {os.fspath(text_or_path)}")
            with open(text_or_path, encoding="utf-8") as f:
                text = f.read()
            base_dir = os.path.dirname(os.path.abspath(text_or_path))
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or "model" not in data:
            raise ValueError("An experiment YAML needs a top-level `model:` mapping (plus `data:` and `training:`).")
        return cls.from_dict(data, base_dir=base_dir)


def dump_yaml(data, path=None):
    """Plain YAML text of a config dict (tuples as lists); also written to `path` when given."""
    text = yaml.safe_dump(_plain(data), sort_keys=False)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def _plain(value: Any):
    """Tuples -> lists, so YAML stays plain (safe_dump rejects tuples)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_model_config(path):
    """A `ModelConfig` from a model-config YAML or from an experiment YAML (its `model:` section).

    Example:

    >>> load_model_config("runs/products/model_config.yaml").modality_names  # doctest: +SKIP
    ['image', 'text']
    """
    import os

    if not os.path.exists(path):
        raise FileNotFoundError(f"Model config not found: {path}")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict) or not {"modalities", "model"} & set(data):
        raise ValueError(f"{path}: neither a model config (`modalities:`) nor an experiment (`model:`).")
    if "modalities" in data:
        return ModelConfig.from_dict(data)
    return ExperimentConfig.from_dict(data).model
