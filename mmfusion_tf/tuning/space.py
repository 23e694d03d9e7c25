"""Search spaces of `mmfusion tune`, and sampled values -> `ExperimentConfig`.

A search space is a mapping read from YAML (`tuning/*.yaml`); each entry
tunes one setting of the base experiment, and an entry left out keeps the
base value:

    fusion_method: {values: [weighted_sum, concat, low_rank, transformer]}
    fusion_options:                 # conditional: active only for that method
      low_rank: {rank: {values: [2, 4, 8]}}
      transformer: {num_heads: {values: [1, 2, 4]}}
    fusion_weights: {min: 0.05, max: 1.0, step: 0.05, mode: fixed}  # α/β/γ…
    projection_dim: {values: [32, 64, 128]}
    dropout: {min: 0.0, max: 0.5, step: 0.1}             # head dropout
    modality_dropout: {min: 0.0, max: 0.3, step: 0.1}
    learning_rate: {min: 1.0e-4, max: 1.0e-2, sampling: log}           # stage 1
    fine_tune_learning_rate: {min: 1.0e-5, max: 1.0e-3, sampling: log} # stage 2
    unfreeze_fraction: {values: [0.25, 0.5, 1.0]}                      # stage 2

A parameter is `{values: [...]}` (a choice), `{min, max[, step][, sampling]}`
(a range; integers when min, max and step are integers) or a plain value
(fixed), each with an optional `default`. The hyperparameter names (the
columns of `trials.csv`) are the keys above, except:

- `fusion_weights` -> `weight.<modality>` per modality (raw α, β, γ…),
  active when the method's layer is `weighted` (`weighted_sum`, `late`);
  `hp_to_experiment` normalises them to sum to 1 and passes them as the
  layer's `weights` (with `mode`, `fixed` by default);
- `fusion_options` -> `<method>.<option>` (e.g. `low_rank.rank`), active
  when `fusion_method` is that method; the options are those the layer
  declares (`mmfusion_tf.fusion.spec(method).options`).

The default space asks the fusion layers which methods it tries and which
of their options it searches (`in_default_space`, `search_space`).

The `hp.*` calls that turn a space into hyperparameters live in
`mmfusion_tf.tuning.hypermodel`; this module only checks spaces and applies
sampled values.

Example:

>>> space = search_space_from_yaml("tuning/default_space.yaml")
>>> experiment = hp_to_experiment(base, {"fusion_method": "weighted_sum", "weight.image": 0.3,
...                                      "weight.audio": 0.1}, space)
>>> experiment.model.fusion.options
{'weights': [0.75, 0.25], 'mode': 'fixed'}
"""

import copy
import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from mmfusion_tf import fusion as fusion_layers
from mmfusion_tf.config import ExperimentConfig, ModelConfig, TrainingConfig, _check_keys

SCALAR_KEYS = (
    "projection_dim", "dropout", "modality_dropout", "learning_rate", "fine_tune_learning_rate", "unfreeze_fraction",
    "auxiliary_weight",
)
WEIGHT_OPTIONS = ("weights", "mode")  # of a `weighted` layer: set from `fusion_weights`, not `fusion_options`
WEIGHT_MODES = ("fixed", "softmax")
WEIGHT_PREFIX = "weight."
TUNER_PREFIX = "tuner/"
SAMPLINGS = ("linear", "log", "reverse_log")

# Bounds of every tunable setting: (low, high, low inclusive, high inclusive, integer).
_BOUNDS = {
    "projection_dim": (1, math.inf, True, False, True),
    "dropout": (0.0, 1.0, True, False, False),
    "modality_dropout": (0.0, 1.0, True, False, False),
    "learning_rate": (0.0, math.inf, False, False, False),
    "fine_tune_learning_rate": (0.0, math.inf, False, False, False),
    "unfreeze_fraction": (0.0, 1.0, False, True, False),
    "auxiliary_weight": (0.0, math.inf, True, False, False),
}

# The built-in space besides `fusion_method` and `fusion_options`, which the fusion layers give (`_default_space`).
_DEFAULT_SETTINGS = {
    "fusion_weights": {"min": 0.05, "max": 1.0, "step": 0.05, "default": 0.5, "mode": "fixed"},
    "projection_dim": {"values": [16, 32, 64, 128]},
    "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    "modality_dropout": {"min": 0.0, "max": 0.3, "step": 0.1},
    "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
    "fine_tune_learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
    "unfreeze_fraction": {"values": [0.25, 0.5, 1.0]},
}


def weighted_methods():
    """The fusion methods whose layer has one global weight per modality (`fusion_weights` tunes them)."""
    return [m for m in fusion_layers.available() if fusion_layers.spec(m).weighted]


def _default_space():
    """The built-in space as a dict: the methods whose layers are `in_default_space`, their `search_space`,
    and `_DEFAULT_SETTINGS`."""
    layers = {m: fusion_layers.spec(m) for m in fusion_layers.available()}
    methods = [m for m, layer in layers.items() if layer.in_default_space]
    options = {m: copy.deepcopy(layers[m].search_space) for m in methods if layers[m].search_space}
    return {"fusion_method": {"values": methods}, "fusion_options": options, **copy.deepcopy(_DEFAULT_SETTINGS)}


# The built-in space; `tuning/default_space.yaml` holds the same (a test keeps them equal).
DEFAULT_SPACE = _default_space()


# === Parameters ===


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_param(spec, where, number=None):
    """A parameter spec in canonical form: `{"values", "default"}`, `{"min", "max", "step",
    "sampling", "default"}` or `{"value"}`; errors name `where` and echo the spec.

    `number` ("float" or "int") forces the type of numeric values (`{min: 0, max: 1}` of a
    weight is a float range, not the integers 0 and 1); None infers it.
    """
    if isinstance(spec, (str, bool, numbers.Real)):
        if number == "float" and _is_number(spec):
            spec = float(spec)
        return {"value": spec}
    if not isinstance(spec, dict):
        raise ValueError(
            f"{where} must be {{values: [...]}}, {{min: ..., max: ...}} or a plain value. Received: {where}={spec!r}"
        )
    if "value" in spec:
        _check_keys_of(spec, ("value",), where)
        return check_param(spec["value"], where, number)
    if "values" in spec:
        _check_keys_of(spec, ("values", "default"), where)
        values = spec["values"]
        plain = isinstance(values, list) and all(isinstance(v, (str, bool, numbers.Real)) for v in values)
        if not plain or not values:
            raise ValueError(f"{where}.values must be a non-empty list of plain values. Received: values={values!r}")
        if all(_is_number(v) for v in values) and (number == "float" or not all(_is_int(v) for v in values)):
            values = [float(v) for v in values]  # keras_tuner wants one type per choice
        elif len({type(v) for v in values}) > 1:
            raise ValueError(f"{where}.values must all have one type. Received: values={values!r}")
        default = spec.get("default")
        if default is not None and default not in values:
            raise ValueError(f"{where}.default must be one of the values {values}. Received: default={default!r}")
        return {"values": list(values), "default": default}
    if "min" in spec or "max" in spec:
        _check_keys_of(spec, ("min", "max", "step", "sampling", "default"), where)
        low, high = spec.get("min"), spec.get("max")
        step, sampling, default = spec.get("step"), spec.get("sampling", "linear"), spec.get("default")
        if not (_is_number(low) and _is_number(high)) or not low < high:
            raise ValueError(f"{where} needs numbers min < max. Received: min={low!r}, max={high!r}")
        if step is not None and (not _is_number(step) or step <= 0):
            raise ValueError(f"{where}.step must be a positive number. Received: step={step!r}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"{where}.sampling={sampling!r} is not allowed. Allowed values: {list(SAMPLINGS)}")
        if sampling != "linear" and low <= 0:
            raise ValueError(f"{where}.min must be > 0 with sampling={sampling!r}. Received: min={low!r}")
        if default is not None and not (_is_number(default) and low <= default <= high):
            raise ValueError(f"{where}.default must be within [{low}, {high}]. Received: default={default!r}")
        whole = all(float(v).is_integer() for v in (low, high, 1 if step is None else step))
        if number == "int" and not whole:
            raise ValueError(f"{where} must be a range of integers. Received: min={low!r}, max={high!r}, step={step!r}")
        integer = number == "int" or (number is None and all(_is_int(v) for v in (low, high, step or 1)))
        cast = int if integer else float
        return {
            "min": cast(low), "max": cast(high), "step": None if step is None else cast(step),
            "sampling": sampling, "default": None if default is None else cast(default),
        }
    raise ValueError(
        f"{where} must be {{values: [...]}}, {{min: ..., max: ...}} or a plain value. Received: {where}={spec!r}"
    )


def _check_keys_of(spec, allowed, where):
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} in {where}. Allowed keys: {list(allowed)}")


def candidates(param):
    """The values a canonical parameter can take, or its `(min, max)` bounds for a range."""
    if "value" in param:
        return [param["value"]]
    if "values" in param:
        return list(param["values"])
    return [param["min"], param["max"]]


def is_integer_range(param):
    """True for `{min, max, step}` ranges of integers (`hp.Int`), False for floats or choices."""
    return "min" in param and isinstance(param["min"], int) and isinstance(param["max"], int)


def contains(param, value):
    """Whether `value` is a value the parameter can take (a range: within its bounds)."""
    if "value" in param:
        return value == param["value"]
    if "values" in param:
        return value in param["values"]
    within = _is_number(value) and param["min"] <= value <= param["max"]
    return within and (not is_integer_range(param) or _is_int(value))


def _check_bounds(param, key, where):
    low, high, low_closed, high_closed, integer = _BOUNDS[key]
    for value in candidates(param):
        ok = _is_number(value) and (value >= low if low_closed else value > low)
        ok = ok and (value <= high if high_closed else value < high) and (not integer or float(value).is_integer())
        if not ok:
            interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
            kind = "integers" if integer else "numbers"
            raise ValueError(f"{where} must hold {kind} in {interval}. Received: {value!r}")


# === Search space ===


@dataclass
class SearchSpace:
    """What `FusionHyperModel` tunes; `None` (or an empty mapping) keeps the base config's value.

    Args:
        fusion_method: choice of `mmfusion_tf.fusion.available()` names.
        fusion_options: `{method: {option: param}}`, active only when the
            method is chosen (e.g. `{"low_rank": {"rank": {"values": [2, 4]}}}`);
            the options a layer declares, except `weights` and `mode`.
        fusion_weights: range or choice of the raw per-modality weights
            α/β/γ… (normalised to sum to 1), plus `mode` ("fixed" or
            "softmax": learnable, initialised from them).
        projection_dim: fusion projection width.
        dropout: head dropout.
        modality_dropout: rate of dropping whole modalities while training.
        learning_rate: stage-1 learning rate (backbones as the base config's
            first stage, usually frozen).
        fine_tune_learning_rate: stage-2 learning rate.
        unfreeze_fraction: stage-2 share (0, 1] of each backbone's weights
            that train (the top ones).
        auxiliary_weight: loss weight of each per-modality head
            (`training.auxiliary_weight`; not in the default space).

    Example:

    >>> SearchSpace.from_dict({"fusion_method": {"values": ["concat", "gated"]}}).to_dict()
    {'fusion_method': {'values': ['concat', 'gated'], 'default': None}}
    """

    fusion_method: Optional[Any] = None
    fusion_options: dict = field(default_factory=dict)
    fusion_weights: Optional[dict] = None
    projection_dim: Optional[Any] = None
    dropout: Optional[Any] = None
    modality_dropout: Optional[Any] = None
    learning_rate: Optional[Any] = None
    fine_tune_learning_rate: Optional[Any] = None
    unfreeze_fraction: Optional[Any] = None
    auxiliary_weight: Optional[Any] = None

    @property
    def weight_mode(self):
        return (self.fusion_weights or {}).get("mode", "fixed")

    def method_values(self):
        """The fusion methods the space can choose (None: the method is not tuned)."""
        return None if self.fusion_method is None else candidates(self.fusion_method)

    def validate(self, where="search space"):
        """Checks every entry and puts it in canonical form; returns self."""
        if self.fusion_method is not None:
            self.fusion_method = check_param(self.fusion_method, f"{where}.fusion_method")
            if "min" in self.fusion_method:
                raise ValueError(f"{where}.fusion_method must be a choice or a fixed name, not a range.")
            for method in candidates(self.fusion_method):
                fusion_layers.spec(method, f"{where}.fusion_method")
        if not isinstance(self.fusion_options, dict):
            raise ValueError(
                f"{where}.fusion_options must map method -> {{option: param}}. Received: {self.fusion_options!r}"
            )
        options = {}
        for method, params in self.fusion_options.items():
            fusion_layers.spec(method, f"{where}.fusion_options")
            methods = self.method_values()
            if methods is not None and method not in methods:
                raise ValueError(
                    f"{where}.fusion_options.{method} is never active: fusion_method values are {methods}."
                )
            if not isinstance(params, dict):
                raise ValueError(f"{where}.fusion_options.{method} must map option -> param. Received: {params!r}")
            fusion_layers.check_options(method, params, f"{where}.fusion_options.{method}", exclude=WEIGHT_OPTIONS)
            options[method] = {
                name: check_param(spec, f"{where}.fusion_options.{method}.{name}") for name, spec in params.items()
            }
        self.fusion_options = options
        if self.fusion_weights is not None:
            spec = dict(self.fusion_weights)
            mode = spec.pop("mode", "fixed")
            if mode not in WEIGHT_MODES:
                raise ValueError(
                    f"{where}.fusion_weights.mode={mode!r} is not allowed. Allowed values: {list(WEIGHT_MODES)}"
                )
            param = check_param(spec, f"{where}.fusion_weights", number="float")
            values = candidates(param)
            if not all(_is_number(v) for v in values) or min(values) < 0 or (mode == "softmax" and min(values) <= 0):
                raise ValueError(
                    f"{where}.fusion_weights must be numbers >= 0 (> 0 with mode='softmax'). "
                    f"Received: {self.fusion_weights!r}"
                )
            self.fusion_weights = {**param, "mode": mode}
        for key in SCALAR_KEYS:
            value = getattr(self, key)
            if value is not None:
                param = check_param(value, f"{where}.{key}", number="int" if _BOUNDS[key][4] else "float")
                _check_bounds(param, key, f"{where}.{key}")
                setattr(self, key, param)
        return self

    def tuned_keys(self):
        """The top-level entries this space tunes."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) not in (None, {})]

    # --- serialisation ---

    def to_dict(self):
        return {key: copy.deepcopy(getattr(self, key)) for key in self.tuned_keys()}

    @classmethod
    def from_dict(cls, data, where="search space"):
        data = {} if data is None else data
        _check_keys(cls, data, where)
        return cls(**copy.deepcopy(data)).validate(where)


def default_search_space():
    """The built-in space (the same as `tuning/default_space.yaml`), asked from the fusion layers on each call."""
    return SearchSpace.from_dict(_default_space())


def search_space_from_yaml(path):
    """A checked `SearchSpace` from a YAML file; errors name the file and the key.

    Example:

    >>> search_space_from_yaml("tuning/weights_and_method.yaml").tuned_keys()
    ['fusion_method', 'fusion_weights']
    """
    import os

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Search space not found: {path}")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return SearchSpace.from_dict(data or {}, where=path)


def as_search_space(space):
    """`SearchSpace` from a SearchSpace, a dict, a YAML path, or None (the default space)."""
    if space is None:
        return default_search_space()
    if isinstance(space, SearchSpace):
        return copy.deepcopy(space).validate()
    if isinstance(space, dict):
        return SearchSpace.from_dict(space)
    return search_space_from_yaml(space)


# === Applying sampled values ===


def as_experiment(base_config):
    """A deep copy of `base_config` as an `ExperimentConfig` (a `ModelConfig` gets the default training)."""
    if isinstance(base_config, ExperimentConfig):
        return copy.deepcopy(base_config)
    if isinstance(base_config, ModelConfig):
        return ExperimentConfig(model=copy.deepcopy(base_config), training=TrainingConfig())
    raise TypeError(
        f"`base_config` must be an ExperimentConfig or a ModelConfig. Received: {type(base_config).__name__}"
    )


def split_epochs(stage_epochs, total):
    """Shares an epoch budget among stages in proportion to their configured epochs.

    Largest remainders (ties to the earlier stage); then every stage with
    epochs gets at least one while the budget lasts (earlier stages first),
    taken from the stage with the most. A budget equal to the configured
    total gives the configured epochs back.

    Example:

    >>> split_epochs([4, 6], 6), split_epochs([2, 2], 1), split_epochs([1, 9], 2)
    ([2, 4], [1, 0], [1, 1])
    """
    total = int(total)
    if total < 0:
        raise ValueError(f"`total` epochs must be >= 0. Received: total={total}")
    weights = [max(0, int(e)) for e in stage_epochs]
    if not sum(weights):
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    protected = [i for i, w in enumerate(weights) if w > 0][:total]
    for i in protected:
        if counts[i] == 0:
            donors = [j for j, c in enumerate(counts) if c > 1] or [
                j for j, c in enumerate(counts) if c > 0 and j not in protected
            ]
            counts[max(donors, key=lambda j: (counts[j], j))] -= 1
            counts[i] = 1
    return counts


def normalized_weights(raw):
    """Raw per-modality weights scaled to sum to 1 (rounded to 6 digits; all zeros -> uniform)."""
    total = float(sum(raw))
    if total <= 0:
        return [round(1.0 / len(raw), 6)] * len(raw)
    return [round(float(w) / total, 6) for w in raw]


def _clean(value):
    """Floats without step artefacts (0.30000000000000004 -> 0.3); anything else unchanged."""
    return float(f"{value:.10g}") if isinstance(value, float) else value


def hp_to_experiment(base_config, hp_values, space=None, epochs=None):
    """Applies sampled hyperparameter values to a copy of the base experiment.

    Args:
        base_config: `ExperimentConfig` (or `ModelConfig` + default training).
        hp_values: `{name: value}`, e.g. `HyperParameters.values` of a trial;
            `tuner/*` entries (Hyperband's bookkeeping) are ignored, and
            options of a method other than the chosen one too.
        space: the `SearchSpace` (gives the weights' `mode`); default space
            when None.
        epochs: optional epoch budget shared among the stages as in
            `split_epochs` (what the tuner trained a trial with).

    Returns:
        A validated `ExperimentConfig` that `mmfusion train` accepts once
        written with `to_yaml`.

    Example:

    >>> hp_to_experiment(base, {"fusion_method": "low_rank", "low_rank.rank": 8}).model.fusion.options
    {'rank': 8}
    """
    space = as_search_space(space)
    experiment = as_experiment(base_config)
    model, training = experiment.model, experiment.training
    values = {k: _clean(v) for k, v in dict(hp_values).items() if not k.startswith(TUNER_PREFIX)}
    fusion = model.fusion
    method = values.pop("fusion_method", fusion.method)
    fusion.options = dict(fusion.options) if method == fusion.method else {}
    fusion.method = method

    names = model.modality_names
    raw = {name[len(WEIGHT_PREFIX):]: values.pop(name) for name in list(values) if name.startswith(WEIGHT_PREFIX)}
    if raw and method in weighted_methods():
        missing = [n for n in names if n not in raw]
        if missing or len(raw) != len(names):
            raise ValueError(
                f"Fusion weights need one value per modality {names}. Received: {sorted(raw)} (missing {missing})"
            )
        fusion.options["weights"] = normalized_weights([raw[n] for n in names])
        fusion.options["mode"] = space.weight_mode
    for name in [k for k in values if "." in k]:
        owner, option = name.split(".", 1)
        value = values.pop(name)
        if owner == method:
            fusion.options[option] = value

    if "projection_dim" in values:
        fusion.projection_dim = int(values.pop("projection_dim"))
    if "modality_dropout" in values:
        fusion.modality_dropout = float(values.pop("modality_dropout"))
    if "dropout" in values:
        model.head.dropout = float(values.pop("dropout"))
    if "auxiliary_weight" in values:
        training.auxiliary_weight = float(values.pop("auxiliary_weight"))
    stages = training.stages
    if "learning_rate" in values:
        stages[0].learning_rate = float(values.pop("learning_rate"))
    second = [k for k in ("fine_tune_learning_rate", "unfreeze_fraction") if k in values]
    if second and len(stages) < 2:
        raise ValueError(
            f"{second} tune the second transfer stage, but training.stages has {len(stages)} stage(s): "
            "add a fine-tuning stage to the base experiment."
        )
    if "fine_tune_learning_rate" in values:
        stages[1].learning_rate = float(values.pop("fine_tune_learning_rate"))
    if "unfreeze_fraction" in values:
        fraction = float(values.pop("unfreeze_fraction"))
        stages[1].backbones = "all" if fraction >= 1.0 else fraction
    if values:
        raise ValueError(
            f"Unknown hyperparameter(s) {sorted(values)}. Known: fusion_method, {WEIGHT_PREFIX}<modality>, "
            f"<method>.<option>, {', '.join(SCALAR_KEYS)}"
        )
    if epochs is not None:
        for stage, count in zip(stages, split_epochs([s.epochs for s in stages], epochs)):
            stage.epochs = count
    return experiment.validate()
