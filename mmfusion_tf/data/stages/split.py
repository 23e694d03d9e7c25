"""Stage `split_label`: an example -> `(features, label)` (or features alone), as `model.fit` takes it.

The bookkeeping keys of the earlier stages (`POSITION`, `INDEX`, `LABEL`)
leave here; the features are the model's inputs by name.

Example:

>>> features, label = split_label({"text": tf.constant(["a"]), LABEL: tf.constant([1]), POSITION: tf.constant([0])})
>>> list(features), label.numpy().tolist()
(['text'], [1])
"""

from mmfusion_tf.data.stages import INDEX, LABEL, POSITION


def split_label(example):
    """`{inputs..., LABEL, ...}` -> `(features, label)`; an example without `LABEL` -> features."""
    features = {k: v for k, v in example.items() if k not in (POSITION, INDEX, LABEL)}
    return (features, example[LABEL]) if LABEL in example else features
