"""`mmfusion_tf._private_apis`: tested versions only, every accessor works here, and no private access elsewhere."""

import ast
import gc
import os
import types

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf
from mmfusion_tf import _private_apis as private
from mmfusion_tf._keras import keras

ROOT = os.path.dirname(mmfusion_tf.__file__)
ADAPTER = "_private_apis/"  # the adapter: _private_apis/__init__.py (Keras, KerasTuner, tf.data)

PRIVATE_MODULES = ("tensorflow.python", "keras.src", "keras_tuner.src")
PRIVATE_ATTRIBUTES = {
    "_flatten_layers", "_layers", "_trainable_variables", "_non_trainable_variables", "_inputs_struct",
    "_outputs_struct", "_compile_loss", "_track_variable", "_maybe_symbolic_build", "_symbolic_build",
    "_distribute_strategy", "_in_multi_worker_mode",
}
# (file, name) of the private uses left outside the adapter; remove an entry when it is fixed.
ALLOWED = set()


def test_installed_versions_are_tested_ones():
    untested = private.untested_versions()
    assert not untested, (
        f"TensorFlow/Keras/KerasTuner version(s) {untested} were never tested with mmfusion_tf's private "
        f"accesses (tested: {private.TESTED_VERSIONS}). Run this file and the slow distributed tests "
        "(tests/training/test_distribute.py, tests/tuning/test_distributed.py -m slow), check every accessor "
        "in mmfusion_tf/_private_apis.py against the new release, then add it to TESTED_VERSIONS."
    )


def _private_uses(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            modules = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        for module in modules:
            for private_module in PRIVATE_MODULES:
                if module == private_module or module.startswith(private_module + "."):
                    yield private_module, node.lineno
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            yield node.attr, node.lineno
        if isinstance(node, ast.Constant) and node.value in PRIVATE_ATTRIBUTES:  # getattr(x, "_inputs_struct")
            yield node.value, node.lineno


def test_no_private_api_outside_the_adapter():
    found, used = [], set()
    for folder, _, files in os.walk(ROOT):
        for name in sorted(files):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, ROOT).replace(os.sep, "/")
            if not name.endswith(".py") or relative.startswith(ADAPTER):
                continue
            for what, line in _private_uses(path):
                if (relative, what) in ALLOWED:
                    used.add((relative, what))
                else:
                    found.append(f"{relative}:{line}: {what}")
    assert not found, "private TensorFlow/Keras/KerasTuner use outside mmfusion_tf/_private_apis/:\n" + "\n".join(
        found)
    assert used == ALLOWED, f"fixed, remove from ALLOWED: {sorted(ALLOWED - used)}"


class _Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(2, name="first")
        self.rest = [keras.layers.Dense(2, name="second"), keras.layers.BatchNormalization(name="norm")]

    def call(self, x):
        for layer in [self.first, *self.rest]:
            x = layer(x)
        return x


def _model():
    inputs = keras.Input((3,), name="x")
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(_Block(name="block")(inputs)))


def test_sublayers_direct_and_nested_in_tracking_order():
    model = _model()
    assert [layer.name for layer in private.sublayers(model)] == ["x", "block", "out"]
    assert [layer.name for layer in private.sublayers(model.get_layer("block"))] == ["first", "second", "norm"]
    assert {layer.name for layer in private.sublayers(model, recursive=True)} == {
        "x", "block", "first", "second", "norm", "out"}


def test_sublayers_fallback_finds_the_same_layers():
    model = _model()
    block = model.get_layer("block")
    assert private.layers_in_attributes(block) == private.sublayers(block)
    assert {id(layer) for layer in private.layers_in_attributes(model, recursive=True)} >= {
        id(layer) for layer in private.sublayers(model, recursive=True)}


def test_sublayers_of_an_object_without_keras_internals_come_from_its_attributes():
    holder = types.SimpleNamespace(first=keras.layers.Dense(1, name="a"), rest={"b": keras.layers.Dense(1, name="b")})
    assert [layer.name for layer in private.sublayers(holder)] == ["a", "b"]


def test_missing_internals_raise_naming_the_tested_keras():
    with pytest.raises(NotImplementedError, match=r"no `Layer._trainable_variables`.*tested with Keras 3\.15"):
        private.created_trainable_variables(object())
    with pytest.raises(NotImplementedError, match=r"no `Trainer._compile_loss`.*tested with Keras 3\.15"):
        private.compiled_loss(object())


def test_created_trainable_variables_keep_frozen_ones_in_creation_order():
    model = _model()
    block = model.get_layer("block")
    dense, norm = block.first, block.rest[1]
    dense.kernel.trainable = False
    assert private.created_trainable_variables(dense) == [dense.kernel, dense.bias]
    assert dense.trainable_weights == [dense.bias]
    assert [v.name for v in private.created_trainable_variables(norm)] == ["gamma", "beta"]  # not moving stats
    block.trainable = False
    assert [v.name for v in private.created_trainable_variables(dense)] == ["kernel", "bias"]
    assert private.created_trainable_variables(block) == []  # own variables only


def test_compiled_loss_is_none_until_compiled_then_the_compiled_loss():
    model = _model()
    assert private.compiled_loss(model) is None
    model.compile("sgd", "mse")
    y, y_pred = np.zeros((2, 1), "float32"), np.full((2, 1), 2.0, "float32")
    assert float(private.compiled_loss(model)(y, y_pred, None)) == pytest.approx(4.0)


@pytest.fixture
def no_fixed_strategy(monkeypatch):
    """Keras as shipped and no strategy fixed during the test, whatever other tests left; restored after."""
    from keras.src.backend.tensorflow import trainer

    for name, shipped in private._ORIGINALS.items():
        monkeypatch.setattr(trainer.TensorFlowTrainer if name == "_maybe_symbolic_build" else trainer, name, shipped)
    monkeypatch.setattr(private, "_FIXED", {})
    monkeypatch.setattr(private, "_ORIGINALS", {})
    yield
    for key in list(private._FIXED):
        private._release(key)


@pytest.fixture
def strategy(no_fixed_strategy):
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def _fit(model):
    model.compile("sgd", "mse")
    return model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), batch_size=4, epochs=1, verbose=0)


def test_distribution_fix_trains_the_strategys_models_through_the_fixed_steps(strategy, monkeypatch):
    from keras.src.backend.tensorflow import trainer

    shipped = trainer.reduce_per_replica, trainer.TensorFlowTrainer._maybe_symbolic_build
    assert private.fix_keras_distribution(strategy, average_logs_over_workers=True)
    assert private.fix_keras_distribution(strategy, average_logs_over_workers=True)  # idempotent
    assert private.keras_distribution_fix_installed()
    fixed_steps = []
    first_replica = private._first_local_replica
    monkeypatch.setattr(private, "_first_local_replica",
                        lambda s, v: fixed_steps.append("build") or first_replica(s, v))
    with strategy.scope():
        model = _model()
    history = _fit(model)
    assert np.isfinite(history.history["loss"][0]) and "build" in fixed_steps

    fixed_steps.clear()
    history = _fit(_model())  # built outside the scope: Keras as shipped
    assert np.isfinite(history.history["loss"][0]) and not fixed_steps

    private.release_keras_distribution_fix(strategy)
    assert not private.keras_distribution_fix_installed()
    assert (trainer.reduce_per_replica, trainer.TensorFlowTrainer._maybe_symbolic_build) == shipped


def test_distribution_fix_ends_with_its_strategy(no_fixed_strategy):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert private.fix_keras_distribution(strategy)
    del strategy
    gc.collect()
    assert not private.keras_distribution_fix_installed()


def test_distribution_fix_leaves_an_unknown_keras_alone(strategy, monkeypatch):
    monkeypatch.setattr(private, "KERAS_DISTRIBUTION_FIX_VERSIONS", ("2.99",))
    with pytest.warns(RuntimeWarning, match=r"not a release .* known for \(2\.99\).*keras-team/keras#20329"):
        assert not private.fix_keras_distribution(strategy)
    assert not private.keras_distribution_fix_installed()


def test_track_variable_makes_an_existing_variable_a_trained_weight_of_the_layer():
    layer = keras.layers.Layer()
    frozen = keras.Variable(np.zeros(2, "float32"), trainable=False, name="frozen")
    trained = keras.Variable(np.ones(2, "float32"), trainable=True, name="trained")
    private.track_variable(layer, frozen)
    private.track_variable(layer, trained)
    assert layer.trainable_weights == [trained] and layer.non_trainable_weights == [frozen]
    assert [v.name for v in layer.weights] == ["trained", "frozen"]
