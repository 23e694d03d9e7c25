"""Stratified (optionally grouped) splits and balanced class weights.

`stratified_split` cuts row indices into disjoint parts that keep each
label's share; with `groups` (speaker, listing host, patient, ...) every
group lands in exactly one part. `class_weights` gives the
`class_weight` dict that `keras.Model.fit` takes, with scikit-learn's
"balanced" values.

Example:

>>> import numpy as np
>>> labels = np.repeat([0, 1], [80, 20])
>>> train, val, test = stratified_split(labels, fractions=(0.7, 0.2, 0.1))
>>> [len(train), len(val), len(test)], int(labels[test].sum())
([70, 20, 10], 2)
>>> class_weights(labels)
{0: 0.625, 1: 2.5}
"""


import numpy as np
from mmfusion_tf._validation import check_seed, is_int as _is_int

# === Public API ===


def stratified_split(labels, fractions=(0.7, 0.2, 0.1), seed=0, groups=None):
    """Splits row indices into disjoint parts, stratified by label.

    Without `groups`, the rows of each label are shuffled and cut at the
    cumulative `fractions` (rounded per label, so a part holds within one
    row per label of `fraction * count`).

    With `groups`, whole groups are assigned: groups are visited largest
    first (ties in seeded random order) and each goes to the part where it
    least increases `sum_k ((assigned_k - target_k) / count_k) ** 2`, the
    squared shortfall/excess of every label `k` relative to its target
    `fraction * count_k`. Label shares are then kept as well as the group
    sizes allow; a part may even stay empty when there are fewer groups
    than parts.

    Args:
        labels: 1-D array-like of hashable labels (ints or strings), `[N]`.
        fractions: sequence of floats > 0 summing to 1, one per part.
        seed: int >= 0, seed of the shuffles.
        groups: optional 1-D array-like `[N]` of group keys; rows sharing a
            key never end up in two parts.

    Returns:
        A tuple of sorted int64 index arrays, one per fraction, disjoint and
        together covering `range(N)`.

    Example:

    >>> labels = np.array([0, 1] * 10)
    >>> speakers = np.repeat(np.arange(5), 4)
    >>> parts = stratified_split(labels, (0.6, 0.4), groups=speakers)
    >>> sorted(np.concatenate(parts).tolist()) == list(range(20))
    True
    """
    labels = _as_1d("labels", labels)
    fracs = _check_fractions(fractions)
    check_seed(seed)
    rng = np.random.default_rng([seed, 0x5B117])
    _, label_ids = np.unique(labels, return_inverse=True)
    label_ids = label_ids.reshape(-1)
    if groups is None:
        return _split_rows(label_ids, fracs, rng)
    groups = _as_1d("groups", groups)
    if len(groups) != len(labels):
        raise ValueError(
            "`labels` and `groups` must have the same length. "
            f"Received: len(labels)={len(labels)}, len(groups)={len(groups)}"
        )
    return _split_groups(label_ids, groups, fracs, rng)


def class_weights(labels, num_classes=None):
    """Balanced class weights in the Keras `class_weight` format.

    `weight[c] = N / (num_classes * count[c])`, the same values as
    scikit-learn's `compute_class_weight("balanced", ...)`. Without
    `num_classes` the classes are the distinct values of `labels`; with it
    they are `0 .. num_classes - 1` and every one must occur: a class without
    examples has no finite balanced weight, so it is a `ValueError` that names
    the class (drop the class or give it a weight yourself).

    Args:
        labels: 1-D array-like of integer class ids, `[N]`, N >= 1.
        num_classes: optional int >= 1; class ids must lie in
            `0 .. num_classes - 1`.

    Returns:
        A dict `{class_id (int): weight (float)}`, sorted by class id.

    Example:

    >>> class_weights([0, 0, 0, 1])
    {0: 0.6666666666666666, 1: 2.0}
    """
    labels = _as_1d("labels", labels)
    if len(labels) == 0:
        raise ValueError("`labels` must not be empty. Received: labels=[]")
    if not np.issubdtype(labels.dtype, np.integer):
        if not (
            np.issubdtype(labels.dtype, np.floating)
            and np.all(np.isfinite(labels))
            and np.all(labels == np.round(labels))
        ):
            raise ValueError(
                "`labels` must be integer class ids. "
                f"Received: dtype={labels.dtype}, first values={labels[:5].tolist()}"
            )
        labels = labels.astype(np.int64)
    if num_classes is None:
        classes, counts = np.unique(labels, return_counts=True)
    else:
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(
                "`num_classes` must be a positive integer. "
                f"Received: num_classes={num_classes!r}"
            )
        outside = labels[(labels < 0) | (labels >= num_classes)]
        if len(outside):
            raise ValueError(
                f"`labels` must lie in 0..{num_classes - 1} for "
                f"num_classes={num_classes}. Received: label {int(outside[0])}"
            )
        classes = np.arange(num_classes)
        counts = np.bincount(labels, minlength=num_classes)
        missing = classes[counts == 0]
        if len(missing):
            raise ValueError(
                f"Class {int(missing[0])} has no examples in `labels`, so it "
                f"has no balanced weight (num_classes={num_classes}, "
                f"missing classes={missing.tolist()})."
            )
    total = float(len(labels))
    return {
        int(c): total / (len(classes) * float(n)) for c, n in zip(classes, counts)
    }


# === Splitting ===


def _split_rows(label_ids, fracs, rng):
    cuts = np.cumsum(fracs)[:-1]
    parts = [[] for _ in fracs]
    for value in range(int(label_ids.max(initial=-1)) + 1):
        idx = rng.permutation(np.flatnonzero(label_ids == value))
        ends = np.round(cuts * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, ends)):
            part.append(chunk)
    return tuple(_sorted_indices(part) for part in parts)


def _split_groups(label_ids, groups, fracs, rng):
    _, group_ids = np.unique(groups, return_inverse=True)
    group_ids = group_ids.reshape(-1)
    num_labels = int(label_ids.max(initial=-1)) + 1
    num_groups = int(group_ids.max(initial=-1)) + 1
    # profile[g, k] = rows of label k in group g.
    profile = np.zeros((num_groups, num_labels))
    np.add.at(profile, (group_ids, label_ids), 1.0)
    label_counts = profile.sum(axis=0)
    target = fracs[:, None] * label_counts[None, :]  # [parts, labels]
    scale = 1.0 / np.maximum(label_counts, 1.0) ** 2
    assigned = np.zeros_like(target)

    order = rng.permutation(num_groups)
    order = order[np.argsort(-profile[order].sum(axis=1), kind="stable")]
    part_of_group = np.empty(num_groups, dtype=np.int64)
    for g in order:
        before = ((assigned - target) ** 2 * scale).sum(axis=1)
        after = ((assigned + profile[g] - target) ** 2 * scale).sum(axis=1)
        cost = after - before
        best = np.flatnonzero(np.isclose(cost, cost.min(), rtol=0, atol=1e-12))
        # Tie: the part furthest below its target size.
        need = (target - assigned).sum(axis=1)[best]
        part = int(best[np.argmax(need)])
        part_of_group[g] = part
        assigned[part] += profile[g]
    row_part = part_of_group[group_ids]
    return tuple(
        np.flatnonzero(row_part == p).astype(np.int64) for p in range(len(fracs))
    )


def _sorted_indices(chunks):
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chunks)).astype(np.int64)


# === Validation ===



def _as_1d(name, values):
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"`{name}` must be 1-D. Received: {name} with shape {array.shape}"
        )
    return array


def _check_fractions(fractions):
    try:
        fracs = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        fracs = None
    if (
        fracs is None
        or fracs.ndim != 1
        or len(fracs) == 0
        or not np.all(np.isfinite(fracs))
        or np.any(fracs <= 0)
        or abs(fracs.sum() - 1.0) > 1e-6
    ):
        raise ValueError(
            "`fractions` must be positive numbers summing to 1 (within 1e-6). "
            f"Received: fractions={fractions!r}"
        )
    return fracs
