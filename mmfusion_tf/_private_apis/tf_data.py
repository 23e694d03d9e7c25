"""Adapter: `Dataset.map` whose function a new iterator instantiates without Grappler.

The one place the data pipeline uses TensorFlow internals, and why. Every
new iterator (every epoch of `fit`) instantiates the functions of its
pipeline again. tf.data does that on its multi-device path by default,
which runs Grappler over each function every time; functions carrying the
`experimental_ints_on_device` attribute take the single-device path
instead (TensorFlow's own `map_on_gpu` and `copy_to_device` set it), where
only the classic graph optimiser runs. On the CPU, where tf.data functions
run, the attribute changes nothing else: the values are the same. No public
API sets it on a `Dataset.map` function; `single_device_map` builds the
same dataset op as `Dataset.map` with the attribute set
(`StructuredFunctionWrapper`, the generated dataset ops). What that saves,
and what it changes in `fit`, `bench/input_pipeline.py` measures side by
side (with `plain_maps()`); docs/benchmarks.md has the figures.

Falls back to `Dataset.map` (the same values, slower new iterators) where
the internals are missing, in tf.data debug mode, on a TensorFlow version
outside `TESTED_VERSIONS` (tests/test_private_tf_data.py fails there,
so a TensorFlow upgrade is checked before it is trusted), and inside
`plain_maps()`.

Example:

>>> ds = single_device_map(tf.data.Dataset.range(4), lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE)
>>> [int(x) for x in ds]
[0, 2, 4, 6]
"""

import contextlib

import tensorflow as tf

try:
    from tensorflow.python.data.ops import dataset_ops, debug_mode, structured_function
    from tensorflow.python.ops import gen_dataset_ops
except ImportError:  # another TensorFlow layout: plain `Dataset.map`
    dataset_ops = None

TESTED_VERSIONS = ("2.21",)  # TensorFlow major.minor versions these internals were checked on
_ATTRIBUTES = {"experimental_ints_on_device": True}
_plain = []  # non-empty inside `plain_maps()`


def tested_version(version=tf.__version__):
    """Whether `version` ("2.21.0") is one of `TESTED_VERSIONS`."""
    return ".".join(version.split(".")[:2]) in TESTED_VERSIONS


def available():
    """Whether `single_device_map` builds single-device functions (else it is `Dataset.map`)."""
    return dataset_ops is not None and tested_version() and not debug_mode.DEBUG_MODE and not _plain


@contextlib.contextmanager
def plain_maps():
    """Inside: `single_device_map` is `Dataset.map` (how the benchmark measures what this module saves)."""
    _plain.append(True)
    try:
        yield
    finally:
        _plain.pop()


def _options():
    """tf.data's `inject_prefetch` rewrite fails on these functions when autotuning is on
    ("Expected only one fetch node"), so datasets built here turn it off."""
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    return options


if dataset_ops is not None:

    class _SingleDeviceMapDataset(dataset_ops.UnaryDataset):
        """`Dataset.map`'s dataset op, its function built with the single-device attribute."""

        def __init__(self, input_dataset, fn, num_parallel_calls, deterministic):
            self._input_dataset = input_dataset
            self._name = None
            self._fn = structured_function.StructuredFunctionWrapper(
                fn, "Dataset.map()", dataset=input_dataset, defun_kwargs=dict(_ATTRIBUTES)
            )
            function = self._fn.function
            common = dict(self._common_args)
            if num_parallel_calls is None:
                variant = gen_dataset_ops.map_dataset(
                    input_dataset._variant_tensor, function.captured_inputs, f=function,
                    use_inter_op_parallelism=True, preserve_cardinality=True, **common,
                )
            else:
                order = {None: "default", True: "true", False: "false"}[deterministic]
                variant = gen_dataset_ops.parallel_map_dataset_v2(
                    input_dataset._variant_tensor, function.captured_inputs, f=function,
                    num_parallel_calls=tf.constant(num_parallel_calls, tf.int64), deterministic=order,
                    use_inter_op_parallelism=True, preserve_cardinality=True, **common,
                )
            super().__init__(input_dataset, variant)

        def _functions(self):
            return [self._fn]

        @property
        def element_spec(self):
            return self._fn.output_structure


    class _SingleDeviceFilterDataset(dataset_ops.UnaryUnchangedStructureDataset):
        """`Dataset.filter`'s dataset op, its predicate built with the single-device attribute."""

        def __init__(self, input_dataset, predicate):
            self._input_dataset = input_dataset
            self._name = None
            self._predicate = structured_function.StructuredFunctionWrapper(
                predicate, "Dataset.filter()", dataset=input_dataset, defun_kwargs=dict(_ATTRIBUTES)
            )
            variant = gen_dataset_ops.filter_dataset(
                input_dataset._variant_tensor, other_arguments=self._predicate.function.captured_inputs,
                predicate=self._predicate.function, **self._common_args,
            )
            super().__init__(input_dataset, variant)

        def _functions(self):
            return [self._predicate]


def single_device_map(ds, fn, num_parallel_calls=None, deterministic=None):
    """`ds.map(fn, num_parallel_calls, deterministic)`, instantiated on the single-device path when `available()`."""
    if not available():
        return ds.map(fn, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    deterministic = None if deterministic is None else bool(deterministic)
    return _SingleDeviceMapDataset(ds, fn, num_parallel_calls, deterministic).with_options(_options())


def single_device_filter(ds, predicate):
    """`ds.filter(predicate)`, instantiated on the single-device path when `available()`.

    >>> [int(x) for x in single_device_filter(tf.data.Dataset.range(5), lambda x: x % 2 == 0)]
    [0, 2, 4]
    """
    if not available():
        return ds.filter(predicate)
    return _SingleDeviceFilterDataset(ds, predicate).with_options(_options())
