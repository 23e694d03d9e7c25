"""Stage `select_inputs`: source columns -> the model's inputs, presence flags and label.

Each model input takes the value of its source column (`Field.column`);
image/audio inputs still hold a path, encoded bytes or an array here, which
`decode_files` replaces. With presence inputs, `<modality>_present` is 1.0
unless every value of that modality is empty: "" (paths, bytes, text,
categories) or NaN (numbers); arrays are never empty (rows of arrays carry
`POSITION`, which gives the flags their shape). Works on one row or a batch
of rows alike (element-wise ops only).

Example:

>>> select = select_inputs(fields_for(config), {"image": "path"}, label_column="label", presence=True)
>>> example = select({"image": tf.constant(["a.png", ""]), "label": tf.constant([1, 0])})
>>> example["image_present"].numpy().tolist()
[1.0, 0.0]
"""

import tensorflow as tf

from mmfusion_tf.data.stages import INDEX, LABEL, POSITION


def _empty(field, kind, value, rows):
    if field.kind == "numeric":
        return tf.math.is_nan(value)
    if kind == "array":  # decoded arrays are never missing
        return tf.zeros_like(rows[POSITION], tf.bool)
    return tf.equal(tf.strings.length(value), 0)


def select_inputs(fields, kinds, label_column=None, presence=False):
    """`{column: values, ...}` -> `{input name: values, [<modality>_present], [LABEL], [POSITION], [INDEX]}`.

    Args:
        fields: `schema.Field`s of the model's inputs.
        kinds: `{column: "path" | "bytes" | "array"}` of image/audio columns.
        label_column: the label's column, or None (unlabelled data).
        presence: bool, add the `<modality>_present` flags.
    """

    def select(rows):
        example = {key: rows[key] for key in (POSITION, INDEX) if key in rows}
        missing = {}
        for f in fields:
            value = rows[f.column]
            example[f.name] = value
            missing.setdefault(f.modality, []).append(_empty(f, kinds.get(f.column), value, rows))
        if presence:
            for modality, empty in missing.items():
                example[f"{modality}_present"] = 1.0 - tf.cast(tf.reduce_all(tf.stack(empty), axis=0), tf.float32)
        if label_column is not None:
            example[LABEL] = rows[label_column]
        return example

    return select
