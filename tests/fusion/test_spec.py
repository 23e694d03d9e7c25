"""Every registered fusion layer declares a complete, valid spec (`fusion.spec`).

The spec is what config validation, the model builder and the tuner read:
`options`, `search_space`, `in_default_space`, `weighted`, `decision_level`.
"""

import inspect

import pytest

from mmfusion_tf import fusion
from mmfusion_tf.tuning.space import DEFAULT_SPACE, SearchSpace, candidates

METHODS = fusion.available()
# What the builder passes (from `fusion.projection_dim` or the head), never a config option.
BUILDER_ARGUMENTS = {
    False: {"projection_dim": 8},
    True: {"num_outputs": 3, "activation": "softmax", "return_logits": True},
}


def _constructor_defaults(layer):
    parameters = inspect.signature(layer.__init__).parameters
    return {name: p.default for name, p in parameters.items() if name not in ("self", "kwargs")}


@pytest.mark.parametrize("method", METHODS)
def test_spec_is_complete(method):
    layer = fusion.spec(method)
    assert isinstance(layer.options, dict) and isinstance(layer.search_space, dict)
    for flag in ("in_default_space", "weighted", "decision_level"):
        assert isinstance(getattr(layer, flag), bool), flag
    # `options` are the constructor arguments the builder does not pass, with the constructor's defaults.
    defaults = _constructor_defaults(layer)
    builder = BUILDER_ARGUMENTS[layer.decision_level]
    assert set(builder) <= set(defaults)
    assert layer.options == {name: value for name, value in defaults.items() if name not in builder}
    assert "dropout" in layer.options  # every layer takes it
    # A weighted layer takes `weights` and `mode` (set by the tuner's `fusion_weights`, not searched here).
    assert layer.weighted == ({"weights", "mode"} <= set(layer.options))
    assert set(layer.search_space) <= set(layer.options) - {"weights", "mode"}
    # The layer can be made from the builder's arguments and its options' defaults.
    made = layer(**builder, **layer.options)
    assert {k: made.get_config()[k] for k in layer.options} == layer.options


@pytest.mark.parametrize("method", [m for m in METHODS if fusion.spec(m).search_space])
def test_search_ranges_are_valid_and_the_layer_takes_every_value(method):
    layer = fusion.spec(method)
    space = SearchSpace.from_dict({"fusion_options": {method: layer.search_space}})
    builder = BUILDER_ARGUMENTS[layer.decision_level]
    # Every projection_dim of the default space (e.g. num_heads must divide each); none for decision-level.
    widths = [None] if layer.decision_level else DEFAULT_SPACE["projection_dim"]["values"]
    for option, param in space.fusion_options[method].items():
        for value in candidates(param):
            for width in widths:
                arguments = builder if width is None else {**builder, "projection_dim": width}
                assert getattr(layer(**arguments, **{option: value}), option) == value


def test_the_known_specs():
    assert [m for m in METHODS if fusion.spec(m).weighted] == ["weighted_sum", "late"]
    assert [m for m in METHODS if fusion.spec(m).decision_level] == ["late"]
    assert [m for m in METHODS if not fusion.spec(m).in_default_space] == ["tensor"]
    assert fusion.spec("low_rank").search_space == {"rank": {"values": [2, 4, 8]}}
    assert fusion.spec("transformer").search_space == {"num_heads": {"values": [1, 2, 4]}}


def test_unknown_method_names_it_and_lists_the_methods():
    with pytest.raises(ValueError) as error:
        fusion.spec("mlp", "experiment.model.fusion.method", also=["auto"])
    assert str(error.value) == (
        f"Unknown fusion method 'mlp' in experiment.model.fusion.method. Allowed values: {METHODS + ['auto']}"
    )
    # Configs use the config names; class names are for `fusion.get`.
    with pytest.raises(ValueError, match="Unknown fusion method 'GatedFusion' in fusion.method"):
        fusion.spec("GatedFusion")
    with pytest.raises(ValueError, match="Unknown fusion method None"):
        fusion.spec(None)


def test_unknown_option_names_it_and_lists_the_allowed_ones():
    fusion.check_options("transformer", {"num_heads": 2, "ff_dim": 8})
    with pytest.raises(ValueError) as error:
        fusion.check_options("transformer", {"heads": 2, "num_heads": 2, "layers": 1}, "experiment.fusion.options")
    assert str(error.value) == (
        "Unknown key(s) ['heads', 'layers'] in experiment.fusion.options for method 'transformer'. "
        "Allowed keys: ['dropout', 'ff_dim', 'num_heads', 'num_layers']"
    )
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['weights'\] .* Allowed keys: \['dropout'\]"):
        fusion.check_options("weighted_sum", {"weights": [1.0, 1.0]}, exclude=("weights", "mode"))
