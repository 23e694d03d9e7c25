"""L2-SP: keep fine-tuned backbone weights near their pretrained values.

Li, Grandvalet & Davoine (2018), "Explicit inductive bias for transfer
learning with convolutional networks": `Ω(w) = α/2 · ‖w_S − w_S⁰‖²`
over the pretrained (backbone) weights `w_S`, instead of plain weight
decay towards zero, limits forgetting during fine-tuning.
"""

import tensorflow as tf

from mmfusion_tf._private_apis import created_trainable_variables
from mmfusion_tf.training.stages import hub_encoders


def backbone_variables(model):
    """The fine-tunable weights adopted from TF-Hub modules (`HubEncoder`s) in `model`.

    Statistics such as batch-norm moving averages are not among them: they
    are not trained by the optimizer, so they are neither anchored nor counted.
    """
    variables, seen = [], set()
    for layer in hub_encoders(model):
        for v in created_trainable_variables(layer):  # frozen modules too: their weights may train later
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    return variables


class L2SPPenalty:
    """Callable penalty `α/2 · Σ ‖w − w⁰‖²` over the backbone weights.

    The starting point `w⁰` is copied when the object is created (call it
    right after `build_model`, before any fine-tuning). Only variables that
    are trainable at the time of the call contribute, so a frozen stage
    pays nothing.

    Args:
        model: the model whose `HubEncoder` weights are anchored.
        alpha: float ≥ 0, strength α.

    Example:

    >>> model = build_model(config)
    >>> model.add_penalty(L2SPPenalty(model, alpha=0.01))
    >>> model.fit(train_ds, epochs=3)  # the penalty is added to the loss
    """

    def __init__(self, model, alpha):
        if float(alpha) < 0:
            raise ValueError(f"`alpha` must be >= 0. Received: alpha={alpha}")
        self.alpha = float(alpha)
        self.model = model
        self.variables = backbone_variables(model)
        self.anchors = [tf.constant(tf.convert_to_tensor(v.value)) for v in self.variables]

    def __call__(self):
        trainable = {id(v) for v in self.model.trainable_variables}
        terms = [
            tf.reduce_sum(tf.square(tf.cast(v.value, tf.float32) - tf.cast(w0, tf.float32)))
            for v, w0 in zip(self.variables, self.anchors)
            if id(v) in trainable
        ]
        if not terms:
            return tf.constant(0.0)
        return 0.5 * self.alpha * tf.add_n(terms)

    def distance(self):
        """Current `‖w − w⁰‖` over all anchored weights (a float, for reports)."""
        total = sum(float(tf.reduce_sum(tf.square(tf.cast(v.value, tf.float32) - tf.cast(w0, tf.float32))))
                    for v, w0 in zip(self.variables, self.anchors))
        return total ** 0.5
