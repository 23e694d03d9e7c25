"""`single_device_map`/`single_device_filter`: what `Dataset.map`/`filter` give, on the single-device path."""

import doctest

import pytest
import tensorflow as tf

from mmfusion_tf.data import single_device
from mmfusion_tf.data.single_device import single_device_filter, single_device_map


def _elements(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), element) for element in ds]


@pytest.mark.parametrize("num_parallel_calls", [None, tf.data.AUTOTUNE, 2])
def test_map_gives_what_dataset_map_gives(num_parallel_calls):
    offset = tf.Variable(10, dtype=tf.int64)  # captured state, as the pipeline's report variables

    def fn(x):
        return {"x": x, "sum": tf.cond(x > 3, lambda: x + offset, lambda: -x), "text": tf.strings.as_string(x)}

    ds = tf.data.Dataset.range(9)
    order = {} if num_parallel_calls is None else {"deterministic": True}
    expected = _elements(ds.map(fn, num_parallel_calls=num_parallel_calls, **order))
    got = single_device_map(ds, fn, num_parallel_calls=num_parallel_calls, **order)
    assert got.element_spec == ds.map(fn).element_spec
    assert _elements(got) == expected
    assert [e["sum"] for e in expected] == [0, -1, -2, -3, 14, 15, 16, 17, 18]


def test_filter_gives_what_dataset_filter_gives_and_checks_the_predicate():
    ds = tf.data.Dataset.range(10).batch(3)
    keep = lambda b: tf.size(b) == 3  # noqa: E731
    assert [b.tolist() for b in _elements(single_device_filter(ds, keep))] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(ValueError, match="`predicate` must return a scalar tf.bool"):
        single_device_filter(ds, lambda b: b)


def test_functions_carry_the_single_device_attribute():
    ds = single_device_filter(single_device_map(tf.data.Dataset.range(4), lambda x: x + 1), lambda x: x > 1)
    for wrapper in (ds._input_dataset._fn, ds._input_dataset._input_dataset._input_dataset._fn):
        assert wrapper.function.function_def.attr["experimental_ints_on_device"].b


def test_the_module_example_runs():
    failures, attempts = doctest.testmod(single_device, extraglobs={"tf": tf}, optionflags=doctest.ELLIPSIS)
    assert attempts > 0 and failures == 0
