"""A trained run's `model.keras` loads (as `mmfusion evaluate` and `mmfusion export` load it) without the
optimizer-variable warning, with the same trainable variables, optimizer state and predictions."""

import logging
import warnings

import numpy as np
import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf.config import StageConfig
from mmfusion_tf.models.fusion_model import freeze_variables, frozen_variables
from mmfusion_tf.training.trainer import Trainer
from tests.training import _experiment as ex


@pytest.fixture(scope="module")
def trained(tmp_path_factory, hub_dir):
    """A frozen stage, then a stage that fine-tunes the top half of each backbone (the case that warned:
    the loaded model made every backbone variable trainable, so its optimizer had more variables)."""
    stages = [StageConfig(name="frozen", epochs=1, backbones="frozen"),
              StageConfig(name="fine_tune", epochs=1, learning_rate=1e-3, backbones=0.5)]
    run = tmp_path_factory.mktemp("load") / "run"
    trainer = Trainer(ex.experiment(hub_dir, stages=stages), run, verbose=0)
    trainer.prepare_data(train=ex.make_data(32), validation=ex.make_data(16, seed=1))
    trainer.fit()
    return trainer, run / "model.keras"


def _load_capturing(path, caplog):
    """`keras.models.load_model(path)`, with every warning and log record it emits."""
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        model = keras.models.load_model(path)
    return model, [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]


def test_loading_a_trained_run_warns_nothing_about_the_optimizer_and_predicts_the_same(trained, caplog):
    trainer, path = trained
    assert frozen_variables(trainer.model), "the fine-tune stage should have frozen part of each backbone"
    loaded, messages = _load_capturing(path, caplog)
    about_optimizer = [m for m in messages if "optimizer" in m.lower() or "skipping variable" in m.lower()]
    assert not about_optimizer, f"loading {path.name} warned: {about_optimizer}"
    # The same variables train, and the saved optimizer state was loaded, not skipped.
    assert [v.path for v in loaded.trainable_variables] == [v.path for v in trainer.model.trainable_variables]
    assert frozen_variables(loaded) == frozen_variables(trainer.model)
    assert len(loaded.optimizer.variables) == len(trainer.model.optimizer.variables)
    for saved, restored in zip(trainer.model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(restored), np.asarray(saved))
    features = {k: v for k, v in ex.make_data(8, seed=3).items() if k != "label"}
    expected = trainer.model.predict_on_batch(features)
    got = loaded.predict_on_batch(features)
    for key in ("probabilities", "logits"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-6)


def test_a_config_freezing_variables_the_model_lacks_is_refused(trained):
    trainer, _ = trained
    with pytest.raises(ValueError, match="no such layer.*different model"):
        freeze_variables(trainer.model, {"nope_encoder/backbone": [0]})
    path, indices = next(iter(frozen_variables(trainer.model).items()))
    with pytest.raises(ValueError, match=f"variable 10000 of layer {path!r}.*has only"):
        freeze_variables(trainer.model, {path: [10_000]})
