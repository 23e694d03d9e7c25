"""Tabular statistics are learned from the training source whatever its kind (manifest, TFRecord, dict)."""

import csv

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig
from mmfusion_tf.data.tfrecord import write_tfrecords
from mmfusion_tf.training import Trainer
from mmfusion_tf.training.experiment_data import tabular_columns


def _manifest(path, beds, cities, labels):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["beds", "city", "label"])
        for row in zip(beds, cities, labels):
            writer.writerow(["" if np.isnan(row[0]) else row[0], *row[1:]])
    return str(path)


@pytest.fixture
def experiment():
    model = mmf.ModelConfig(
        modalities=[mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": None})],
        fusion=mmf.FusionConfig(method="concat", projection_dim=8),
        head=mmf.HeadConfig(task="multiclass", labels=["a", "b"], hidden_units=[8]),
    )
    return ExperimentConfig(
        model=model, data=DataConfig(batch_size=8),
        training=TrainingConfig(stages=[StageConfig(name="only", epochs=1, learning_rate=1e-2, backbones="all")],
                                tensorboard=False, checkpoints=False),
    )


@pytest.fixture
def files(tmp_path):
    beds = np.array([1.0, 2.0, np.nan, 5.0, 3.0, 1.0, 2.0, 6.0])
    cities = ["paris", "rome", "paris", "oslo", "rome", "paris", "oslo", "rome"]
    labels = ["a", "b", "a", "b", "a", "b", "a", "b"]
    train = _manifest(tmp_path / "train.csv", beds, cities, labels)
    validation = _manifest(tmp_path / "val.csv", np.array([9.0, 9.0]), ["lima", "lima"], ["a", "b"])
    return train, validation, beds


def _encoder(trainer):
    return trainer.model.get_layer("table_encoder")


def test_separate_validation_manifest_adapts_on_the_training_manifest(experiment, files, tmp_path):
    train, validation, beds = files
    trainer = Trainer(experiment, tmp_path / "run", verbose=0)
    trainer.prepare_data(train=train, validation=validation)
    trainer.fit()
    mean, variance = _encoder(trainer).numeric_stats["beds"]
    np.testing.assert_allclose([mean, variance], [np.nanmean(beds), np.nanvar(beds)], rtol=1e-5)
    assert sorted(_encoder(trainer).categorical_features["city"]) == ["oslo", "paris", "rome"]  # not "lima"


def test_tfrecord_training_data_adapts_on_its_records(experiment, files, tmp_path):
    train, validation, beds = files
    shards = write_tfrecords(train, experiment.model, str(tmp_path / "tfr" / "train"), num_shards=2)
    columns = tabular_columns(experiment, str(tmp_path / "tfr" / "train-*.tfrecord"))
    assert sorted(columns) == ["beds", "city"] and len(shards) == 2
    np.testing.assert_allclose(np.sort(columns["beds"]), np.sort(beds))  # NaN sorts last in both
    trainer = Trainer(experiment, tmp_path / "run", verbose=0)
    trainer.prepare_data(train=str(tmp_path / "tfr" / "train-*.tfrecord"), validation=validation)
    trainer.fit()
    np.testing.assert_allclose(_encoder(trainer).numeric_stats["beds"][0], np.nanmean(beds), rtol=1e-5)
    assert sorted(_encoder(trainer).categorical_features["city"]) == ["oslo", "paris", "rome"]


def test_no_tabular_modality_reads_nothing(files):
    model = mmf.ModelConfig(
        modalities=[mmf.TextModality(name="text", handle="unused")],
        head=mmf.HeadConfig(task="multiclass", labels=["a", "b"]),
    )
    assert tabular_columns(ExperimentConfig(model=model), files[0]) is None
