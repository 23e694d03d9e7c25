"""The contract every fusion layer keeps, checked once per layer.

Run the checks of one layer with e.g. `pytest tests/fusion -k gated`.
"""

import doctest
import importlib
import json

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf import fusion
from mmfusion_tf._keras import keras
from tests.fusion._checks import BATCH
from tests.fusion._checks import CASES
from tests.fusion._checks import DIMS_2
from tests.fusion._checks import DIMS_3
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import assert_missing_modality_ignored
from tests.fusion._checks import assert_weights_normalized
from tests.fusion._checks import case_params
from tests.fusion._checks import functional_model
from tests.fusion._checks import make_inputs
from tests.fusion._checks import projection_kernels
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy

ops = keras.ops


@pytest.mark.parametrize("dims", [DIMS_2, DIMS_3], ids=["M2", "M3"])
@pytest.mark.parametrize("case", case_params())
def test_output_shapes(case, dims):
    num_modalities = len(dims)
    layer = case.make(num_modalities)
    fused, weights = run(layer, make_inputs(dims))
    expected = (BATCH, case.fused_dim(num_modalities))
    assert fused.shape == expected
    assert weights.shape == (BATCH, num_modalities)
    assert layer.compute_output_shape([(None, d) for d in dims]) == (
        (None, expected[1]),
        (None, num_modalities),
    )
    assert len(layer.projections) == num_modalities
    assert all(p.trainable for p in layer.projections)


@pytest.mark.parametrize("case", case_params())
def test_functional_api_with_presence_tensor(case):
    layer = case.make()
    model = functional_model(layer, DIMS_3)
    assert model.outputs[0].shape == (None, case.fused_dim(3))
    assert model.outputs[1].shape == (None, 3)
    inputs = make_inputs(DIMS_3)
    fused, weights = model.predict(inputs + [PRESENCE_3], verbose=0)
    eager_fused, eager_weights = run(layer, inputs, PRESENCE_3)
    np.testing.assert_allclose(fused, eager_fused, atol=1e-5)
    np.testing.assert_allclose(weights, eager_weights, atol=1e-6)


@pytest.mark.parametrize("case", case_params())
def test_config_round_trip(case):
    inputs = make_inputs(DIMS_3)
    layer = case.make()
    expected = run(layer, inputs, PRESENCE_3)
    config = layer.get_config()
    restored = case.cls.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    run(restored, inputs, PRESENCE_3)  # Builds it.
    restored.set_weights(layer.get_weights())
    for got, want in zip(run(restored, inputs, PRESENCE_3), expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", case_params())
def test_constructor_args_are_attributes_in_config(case):
    layer = case.make()
    config = layer.get_config()
    base_keys = set(keras.layers.Layer().get_config())
    for key, value in case.kwargs.items():
        assert config[key] == value
    for key in set(config) - base_keys:
        # `Layer.weights` is Keras' variable list: see ScalarWeightsMixin.
        attribute = "modality_weights" if key == "weights" else key
        assert getattr(layer, attribute) == config[key], key


@pytest.mark.parametrize("case", case_params())
def test_registered_for_serialization(case):
    layer = case.make()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"mmfusion_tf>{case.cls.__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is case.cls
    assert restored.get_config() == layer.get_config()


@pytest.mark.parametrize("case", case_params())
def test_gradients_reach_every_projection(case):
    layer = case.make()
    inputs = [tf.constant(x) for x in make_inputs(DIMS_3)]
    run(layer, inputs)  # Builds it.
    target = tf.constant(
        np.random.default_rng(1).normal(size=(BATCH, case.fused_dim(3))),
        dtype="float32",
    )
    with tf.GradientTape() as tape:
        fused, _ = layer(inputs, presence=PRESENCE_3, training=True)
        loss = ops.sum(ops.cast(fused, "float32") * target)
    variables = layer.trainable_variables
    grads = tape.gradient(loss, variables)
    grads = {v.path: grad for v, grad in zip(variables, grads)}
    for path, grad in grads.items():
        if grad is not None:  # None: the loss does not use the variable.
            assert np.all(np.isfinite(to_numpy(grad))), path
    for kernel in projection_kernels(layer):
        grad = grads[kernel.path]
        assert grad is not None, kernel.path
        assert np.abs(to_numpy(grad)).max() > 0, kernel.path


@pytest.mark.parametrize("case", case_params())
def test_missing_modality_contributes_nothing(case):
    assert_missing_modality_ignored(case.make())


@pytest.mark.parametrize("case", case_params())
def test_all_missing_gives_zeros(case):
    layer = case.make()
    presence = np.zeros((BATCH, 3), "float32")
    fused, weights = run(layer, make_inputs(DIMS_3), presence)
    np.testing.assert_array_equal(fused, 0.0)
    np.testing.assert_array_equal(weights, 0.0)


@pytest.mark.parametrize(
    "case", case_params([c for c in CASES if c.normalized])
)
def test_weights_sum_to_one_over_present(case):
    layer = case.make()
    _, weights = run(layer, make_inputs(DIMS_3), PRESENCE_3)
    assert_weights_normalized(weights, PRESENCE_3)
    _, weights = run(layer, make_inputs(DIMS_3))  # presence=None: all present.
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)


def _fit_two_steps(case, epochs=2):
    layer = case.make()
    model = functional_model(layer, DIMS_3)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=["mse", None],
        jit_compile=False,
    )
    rng = np.random.default_rng(2)
    inputs = make_inputs(DIMS_3, batch=16)
    presence = (rng.uniform(size=(16, 3)) > 0.3).astype("float32")
    targets = rng.normal(size=(16, case.fused_dim(3))).astype("float32")
    before = [to_numpy(k) for k in projection_kernels(layer)]
    history = model.fit(
        inputs + [presence], targets, batch_size=16, epochs=epochs, verbose=0
    )
    after = [to_numpy(k) for k in projection_kernels(layer)]
    return layer, history.history["loss"], before, after


@pytest.mark.parametrize("case", case_params())
def test_trains_in_functional_model(case):
    _, losses, before, after = _fit_two_steps(case)
    assert np.all(np.isfinite(losses))
    assert losses[1] < losses[0]
    for kernel_before, kernel_after in zip(before, after):
        assert not np.allclose(kernel_before, kernel_after)


@pytest.mark.parametrize("case", case_params())
def test_mixed_bfloat16(case, mixed_bfloat16):
    expected_dtype = case.output_dtype or "bfloat16"
    fused, weights = case.make()(make_inputs(DIMS_3), presence=PRESENCE_3)
    assert fused.dtype == expected_dtype
    assert weights.dtype == expected_dtype
    if case.normalized:
        # bfloat16 has 8 bits of mantissa.
        assert_weights_normalized(to_numpy(weights), PRESENCE_3, atol=1e-2)
    layer, losses, _, _ = _fit_two_steps(case)
    assert [x.dtype for x in layer.output] == [expected_dtype] * 2
    assert np.all(np.isfinite(losses))


@pytest.mark.parametrize("case", case_params())
def test_saved_functional_model_reloads(case, tmp_path):
    model = functional_model(case.make(), DIMS_3)
    inputs = make_inputs(DIMS_3) + [PRESENCE_3]
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    for got, want in zip(
        restored.predict(inputs, verbose=0), model.predict(inputs, verbose=0)
    ):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", case_params())
def test_rejects_bad_dropout(case):
    with pytest.raises(ValueError, match=r"`dropout`.*Received: dropout=1\.5"):
        case.make(dropout=1.5)


@pytest.mark.parametrize("case", case_params())
def test_rejects_wrong_number_of_inputs(case):
    layer = case.make()
    run(layer, make_inputs(DIMS_3))
    with pytest.raises(
        ValueError, match=r"built for 3 modalities.*len\(inputs\)=2"
    ):
        layer(make_inputs(DIMS_2))


@pytest.mark.parametrize(
    "module",
    ["__init__", "base", "modality_dropout"]
    + [module for module, _ in fusion._LAYERS.values()],
)
def test_docstring_examples_run(module):
    name = "mmfusion_tf.fusion" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0
    assert result.failed == 0
