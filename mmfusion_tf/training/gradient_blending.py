"""`GradientBlending`: per-head loss weights from each head's overfitting-to-generalisation ratio.

Online Gradient-Blending (Wang, Tran & Feiszli, "What Makes Training
Multi-modal Classification Networks Hard?", CVPR 2020): every head (one per
modality, plus the fused one) is weighted by how much its validation loss
improved (generalisation G) over how much its train/validation gap grew
(overfitting O) since the last estimate, `w ∝ ΔG / ΔO²`. A modality that
has stopped generalising, or only overfits, loses weight; a slow modality
that still generalises gains it.
"""

import numpy as np

from mmfusion_tf._keras import keras


def blending_weights(previous, current, floor=0.1, epsilon=1e-4):
    """Gradient-Blending weights from two estimates of each head's `(train_loss, val_loss)`.

    Args:
        previous, current: lists of `(train_loss, val_loss)` per head.
        floor: smallest weight a head keeps, relative to the mean weight.
        epsilon: added to ΔO² (a head that does not overfit is not given an
            infinite weight).

    Returns:
        A NumPy array of weights with mean 1 (so the learning rate keeps its scale).

    Example:

    >>> blending_weights([(1.0, 1.2), (1.0, 1.2)], [(0.5, 0.9), (0.9, 1.19)]).round(2)
    array([1.72, 0.28])
    """
    previous, current = np.asarray(previous, "float64"), np.asarray(current, "float64")
    generalisation = np.maximum(previous[:, 1] - current[:, 1], 0.0)
    overfitting = (current[:, 1] - current[:, 0]) - (previous[:, 1] - previous[:, 0])
    raw = generalisation / (overfitting ** 2 + epsilon)
    if not np.isfinite(raw).all() or raw.sum() <= 0:
        return np.ones(len(raw))
    weights = raw / raw.mean()
    weights = np.maximum(weights, floor)
    return weights / weights.mean()


class GradientBlending(keras.callbacks.Callback):
    """Re-weighs the per-modality heads' losses after every epoch (needs validation data).

    Reads `<head>_loss` and `val_<head>_loss` of the `modality_heads`
    layer's heads from the epoch logs and moves each modality head's loss
    weight towards its `blending_weights` estimate (an exponential moving
    average with `momentum`: one epoch's estimate is noisy). The fused
    head keeps weight 1 and the modality heads keep their total weight
    (`auxiliary_weight` each on average): Gradient-Blending decides how that
    total is shared among the modalities. Weights are logged as
    `loss_weight_<head>` (CSV logs, TensorBoard). One instance follows the
    training through every transfer stage.

    Args:
        floor: smallest weight of a head, relative to the mean.
        momentum: share of the previous weights kept at each update.

    Example:

    >>> model.fit(train_ds, validation_data=val_ds, epochs=5, callbacks=[GradientBlending()])
    """

    def __init__(self, floor=0.25, momentum=0.5):
        super().__init__()
        self.floor = float(floor)
        self.momentum = float(momentum)
        self.previous = None
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        heads = self.model.modality_heads() if hasattr(self.model, "modality_heads") else None
        if heads is None:
            return
        names = heads.modality_names
        keys = [(f"{n}_loss", f"val_{n}_loss") for n in names]
        if not all(train in logs and val in logs for train, val in keys):
            return
        current = [(float(logs[train]), float(logs[val])) for train, val in keys]
        weights = heads.loss_weights.numpy()
        if self.previous is not None:
            total = weights[:-1].sum()
            estimate = blending_weights(self.previous, current, floor=self.floor) * total / len(names)
            weights[:-1] = self.momentum * weights[:-1] + (1.0 - self.momentum) * estimate
            heads.loss_weights.assign(weights.astype("float32"))
        self.previous = current
        self.history.append(dict(zip(heads.head_names, weights.tolist())))
        for name, weight in zip(heads.head_names, weights):
            logs[f"loss_weight_{name}"] = float(weight)
