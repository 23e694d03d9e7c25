"""The single-device adapter: what `Dataset.map` gives, on TensorFlow versions it was checked on, with a fallback."""

import doctest

import pytest
import tensorflow as tf

from mmfusion_tf import _private_apis as single_device
from mmfusion_tf._private_apis import plain_maps, single_device_map


def _elements(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), element) for element in ds]


def test_the_installed_tensorflow_is_one_the_adapter_was_checked_on():
    """Fails on a TensorFlow upgrade: check the internals, re-run bench/input_pipeline.py, then add the version."""
    assert single_device.tested_version(), (
        "mmfusion_tf._private_apis' tf.data adapter was checked on TensorFlow "
        f"{single_device.TESTED_VERSIONS['tensorflow']}, "
        f"not {tf.__version__}: "
        "the pipeline falls back to Dataset.map (slower new iterators). Run tests/data and bench/input_pipeline.py "
        "(single-device vs plain maps) on this version before adding it to TESTED_VERSIONS."
    )
    assert single_device.available()
    assert single_device.tested_version("2.21.3") and not single_device.tested_version("2.22.0")


@pytest.mark.parametrize("num_parallel_calls", [None, tf.data.AUTOTUNE, 2])
def test_map_gives_what_dataset_map_gives(num_parallel_calls):
    offset = tf.Variable(10, dtype=tf.int64)  # captured state, as the pipeline's variables

    def fn(x):
        return {"x": x, "sum": tf.cond(x > 3, lambda: x + offset, lambda: -x), "text": tf.strings.as_string(x)}

    ds = tf.data.Dataset.range(9)
    order = {} if num_parallel_calls is None else {"deterministic": True}
    expected = _elements(ds.map(fn, num_parallel_calls=num_parallel_calls, **order))
    got = single_device_map(ds, fn, num_parallel_calls=num_parallel_calls, **order)
    assert got.element_spec == ds.map(fn).element_spec
    assert _elements(got) == expected
    assert [e["sum"] for e in expected] == [0, -1, -2, -3, 14, 15, 16, 17, 18]


def _function_defs(ds):
    graph = tf.compat.v1.GraphDef.FromString(ds._as_serialized_graph().numpy())
    return [f for f in graph.library.function if f.attr["_tf_data_function"].b]


def test_functions_carry_the_single_device_attribute_unless_plain_maps():
    def build():
        return single_device_map(single_device_map(tf.data.Dataset.range(4), lambda x: x + 1), lambda x: x * 2, 2)

    single = _function_defs(build())
    assert len(single) == 2 and all(f.attr["experimental_ints_on_device"].b for f in single)
    with plain_maps():
        plain = build()
    assert not any(f.attr["experimental_ints_on_device"].b for f in _function_defs(plain))
    assert _elements(plain) == _elements(build()) == [2, 4, 6, 8]


def test_the_examples_run():
    for function in (single_device.single_device_map, single_device.single_device_filter):
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in doctest.DocTestFinder().find(function, globs={"tf": tf, function.__name__: function}):
            runner.run(test)
        assert runner.tries > 0 and runner.failures == 0
