"""fusion.get(name), fusion.available() and fusion.__all__."""

import pytest

from mmfusion_tf import fusion

NAMES = {
    "weighted_sum": fusion.WeightedSumFusion,
    "concat": fusion.ConcatFusion,
    "attention": fusion.AttentionFusion,
    "gated": fusion.GatedFusion,
    "tensor": fusion.TensorFusion,
    "low_rank": fusion.LowRankFusion,
    "transformer": fusion.TransformerFusion,
    "late": fusion.LateFusion,
}


def test_available_lists_the_config_names():
    assert fusion.available() == list(NAMES)


@pytest.mark.parametrize("name, cls", NAMES.items())
def test_get_by_config_name_and_class_name(name, cls):
    assert fusion.get(name) is cls
    assert fusion.get(cls.__name__) is cls


@pytest.mark.parametrize("name", ["nope", "Gated", "ModalityDropout", None])
def test_unknown_name_lists_the_allowed_names(name):
    with pytest.raises(ValueError) as error:
        fusion.get(name)
    message = str(error.value)
    assert f"Received: name={name!r}" in message
    for allowed in NAMES:
        assert repr(allowed) in message


def test_all_is_every_registered_layer_and_the_functions():
    names = {cls.__name__ for cls in NAMES.values()} | {"BaseFusion", "ModalityDropout"}
    assert set(fusion.__all__) == names | {"available", "check_options", "get", "spec"}
    assert all(getattr(fusion, name) is not None for name in fusion.__all__)
