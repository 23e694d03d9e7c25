"""Tests for stratified (grouped) splits and balanced class weights."""

import numpy as np
import pytest

from mmfusion_tf.data.splits import class_weights, stratified_split

FRACTIONS = (0.7, 0.2, 0.1)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(123)
    # 10k rows, 4 imbalanced labels, 50 speakers with skewed label profiles.
    labels = rng.choice(4, size=10_000, p=[0.5, 0.3, 0.15, 0.05])
    groups = rng.integers(0, 50, size=10_000)
    labels = np.where(groups % 7 == 0, rng.integers(0, 2, size=10_000), labels)
    return labels, groups


def _check_partition(parts, n):
    everything = np.concatenate(parts)
    assert len(everything) == n
    assert np.array_equal(np.sort(everything), np.arange(n))  # disjoint, complete
    for part in parts:
        assert part.dtype == np.int64


def test_disjoint_and_complete(rows):
    labels, _ = rows
    parts = stratified_split(labels, FRACTIONS, seed=0)
    assert len(parts) == 3
    _check_partition(parts, len(labels))


def test_label_proportions_within_two_percent(rows):
    labels, _ = rows
    parts = stratified_split(labels, FRACTIONS, seed=0)
    for part, fraction in zip(parts, FRACTIONS):
        assert abs(len(part) / len(labels) - fraction) < 0.02
        for value in np.unique(labels):
            share = np.mean(labels[part] == value)
            assert abs(share - np.mean(labels == value)) < 0.02
            count = np.sum(labels == value)
            # Rounded per label: within one row of fraction * count.
            assert abs(np.sum(labels[part] == value) - fraction * count) <= 1


def test_deterministic_by_seed(rows):
    labels, groups = rows
    first = stratified_split(labels, FRACTIONS, seed=7)
    again = stratified_split(labels, FRACTIONS, seed=7)
    other = stratified_split(labels, FRACTIONS, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    grouped = stratified_split(labels, FRACTIONS, seed=7, groups=groups)
    grouped_again = stratified_split(labels, FRACTIONS, seed=7, groups=groups)
    assert all(np.array_equal(a, b) for a, b in zip(grouped, grouped_again))


def test_string_labels():
    labels = np.array(["cat", "dog"] * 50)
    train, val = stratified_split(labels, (0.8, 0.2), seed=0)
    assert np.sum(labels[val] == "cat") == 10 and np.sum(labels[val] == "dog") == 10


def test_groups_never_leak_and_keep_proportions(rows):
    labels, groups = rows
    parts = stratified_split(labels, FRACTIONS, seed=0, groups=groups)
    _check_partition(parts, len(labels))
    seen = [set(groups[part].tolist()) for part in parts]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert set().union(*seen) == set(range(50))
    for part, fraction in zip(parts, FRACTIONS):
        # Whole groups of ~200 rows move at once: looser than the row split.
        assert abs(len(part) / len(labels) - fraction) < 0.03
        for value in np.unique(labels):
            share = np.sum(labels[part] == value) / np.sum(labels == value)
            assert abs(share - fraction) < 0.05, (value, share, fraction)


def test_fewer_groups_than_parts_keeps_groups_whole():
    labels = np.array([0, 1, 0, 1])
    groups = np.array(["a", "a", "b", "b"])
    parts = stratified_split(labels, FRACTIONS, seed=0, groups=groups)
    _check_partition(parts, 4)
    assert sum(len(p) > 0 for p in parts) == 2


def test_class_weights_match_sklearn_balanced():
    # Boston Airbnb room types: 2,102 / 1,210 / 25 / 12 listings.
    labels = np.repeat([0, 1, 2, 3], [2102, 1210, 25, 12])
    weights = class_weights(labels)
    # sklearn.utils.class_weight.compute_class_weight("balanced", ...)
    expected = {
        0: 0.3983111322549953,
        1: 0.6919421487603306,
        2: 33.49,
        3: 69.77083333333333,
    }
    assert list(weights) == [0, 1, 2, 3]
    for key, value in expected.items():
        assert weights[key] == pytest.approx(value, rel=1e-12)
        assert isinstance(weights[key], float)
    assert class_weights(labels, num_classes=4) == weights
    # Weighted counts are equal: every class carries N / num_classes.
    counts = np.bincount(labels)
    assert np.allclose([weights[c] * counts[c] for c in range(4)], len(labels) / 4)


def test_class_weights_sparse_ids_without_num_classes():
    assert class_weights(np.array([3, 3, 7])) == {3: 0.75, 7: 1.5}


@pytest.mark.parametrize(
    "fractions", [(0.7, 0.2), (0.7, 0.4, -0.1), (0.5, 0.5, 0.0), (), "abc"]
)
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match=r"`fractions`.*Received: fractions="):
        stratified_split(np.zeros(10), fractions)


def test_fractions_tolerance():
    parts = stratified_split(np.zeros(10), (0.7, 0.2, 0.1 + 5e-7))
    assert [len(p) for p in parts] == [7, 2, 1]


def test_length_mismatch_names_both():
    with pytest.raises(
        ValueError, match=r"`labels` and `groups`.*len\(labels\)=10, len\(groups\)=9"
    ):
        stratified_split(np.zeros(10), groups=np.zeros(9))


def test_bad_seed_and_shape():
    with pytest.raises(ValueError, match=r"`seed`.*seed=-1"):
        stratified_split(np.zeros(10), seed=-1)
    with pytest.raises(ValueError, match=r"`labels` must be 1-D"):
        stratified_split(np.zeros((5, 2)))


def test_class_weights_missing_class_named():
    with pytest.raises(ValueError, match=r"Class 2 has no examples.*num_classes=4"):
        class_weights(np.array([0, 1, 3, 3]), num_classes=4)


def test_class_weights_bad_inputs():
    with pytest.raises(ValueError, match=r"`labels` must lie in 0\.\.2.*label 5"):
        class_weights(np.array([0, 1, 2, 5]), num_classes=3)
    with pytest.raises(ValueError, match=r"`num_classes`.*num_classes=0"):
        class_weights(np.array([0, 1]), num_classes=0)
    with pytest.raises(ValueError, match=r"integer class ids.*dtype="):
        class_weights(np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"`labels` must not be empty"):
        class_weights([])
