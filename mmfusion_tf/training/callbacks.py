"""The callbacks of one training stage: checkpoints, resume, logs, early stopping."""

import os

from mmfusion_tf._keras import keras
from mmfusion_tf.training.stages import stage_learning_rate


def stage_callbacks(output_dir, stage, training, has_validation, extra=(), before_logs=()):
    """Callbacks for `fit` in one stage, in the order they must run.

    `BackupAndRestore` comes first so a finished epoch is backed up before
    anything else reports it: a run killed after epoch N restarts at N+1.
    Files: `backup/<stage>/` (removed when the stage ends),
    `checkpoints/<stage>/last.weights.h5` (every epoch) and `best.weights.h5`,
    `logs/<stage>.csv` (appended across restarts) and TensorBoard logs in
    `logs/tensorboard/<stage>/`.

    Args:
        output_dir: the run folder.
        stage: `StageConfig`.
        training: `TrainingConfig`.
        has_validation: bool; monitors fall back to the training loss without it.
        extra: user callbacks, appended last.
        before_logs: callbacks that add to the epoch logs (e.g. `GradientBlending`), placed
            before the CSV and TensorBoard loggers.

    Example:

    >>> model.fit(train_ds, epochs=stage.epochs, callbacks=stage_callbacks("runs/a", stage, training, True))
    """
    monitor = training.monitor if has_validation else training.monitor.replace("val_", "")
    callbacks = [
        keras.callbacks.BackupAndRestore(
            os.path.join(output_dir, "backup", stage.name), save_freq="epoch", delete_checkpoint=True
        ),
        keras.callbacks.LearningRateScheduler(lambda epoch, _: stage_learning_rate(stage, epoch)),
    ]
    if training.checkpoints:
        folder = os.path.join(output_dir, "checkpoints", stage.name)
        os.makedirs(folder, exist_ok=True)
        callbacks += [
            keras.callbacks.ModelCheckpoint(os.path.join(folder, "last.weights.h5"), save_weights_only=True),
            keras.callbacks.ModelCheckpoint(
                os.path.join(folder, "best.weights.h5"), save_weights_only=True, save_best_only=True, monitor=monitor
            ),
        ]
    if int(training.early_stopping_patience) > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=int(training.early_stopping_patience), restore_best_weights=True
            )
        )
    callbacks += list(before_logs)
    os.makedirs(os.path.join(output_dir, "logs"), exist_ok=True)
    callbacks.append(keras.callbacks.CSVLogger(os.path.join(output_dir, "logs", f"{stage.name}.csv"), append=True))
    if training.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "logs", "tensorboard", stage.name)))
    return callbacks + list(extra)
