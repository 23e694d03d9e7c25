"""`Dataset.map` and `Dataset.filter` whose functions a new iterator instantiates cheaply.

Every new iterator (every epoch of `fit`) instantiates the functions of its
pipeline again. tf.data instantiates them on its multi-device path by
default, which runs Grappler over each function every time: on AV-digits
(2,400 examples, batches of 64) creating an iterator of `make_dataset`'s
pipeline took ~127 ms, about 40 % of a pass that decodes every file.
Functions carrying the `experimental_ints_on_device` attribute take the
single-device path instead (TensorFlow's own `map_on_gpu` and
`copy_to_device` set it); there the same iterator took ~12 ms, and passes
gave the same values with less CPU per example (156 against 202 µs).

tf.data functions run on the host's CPU, where the attribute changes
nothing else. The functions here build the same dataset ops as
`Dataset.map` and `Dataset.filter`, with that attribute on their function.
They use TensorFlow internals (`StructuredFunctionWrapper`, the generated
dataset ops); where those are missing, or in tf.data debug mode, they fall
back to `Dataset.map` and `Dataset.filter`.

Example:

>>> ds = single_device_map(tf.data.Dataset.range(4), lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE)
>>> [int(x) for x in single_device_filter(ds, lambda x: x > 2)]
[4, 6]
"""

import tensorflow as tf

try:
    from tensorflow.python.data.ops import dataset_ops, debug_mode, structured_function
    from tensorflow.python.ops import gen_dataset_ops
except ImportError:  # another TensorFlow layout: plain `map`/`filter`
    dataset_ops = None

_ATTRIBUTES = {"experimental_ints_on_device": True}


def _options():
    """tf.data's `inject_prefetch` rewrite fails on these functions when autotuning is on
    ("Expected only one fetch node"), so datasets built here turn it off."""
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    return options


def _available():
    return dataset_ops is not None and not debug_mode.DEBUG_MODE


if dataset_ops is not None:

    class _SingleDeviceDataset(dataset_ops.UnaryDataset):
        """One function over `input_dataset`, by `make_variant(variant, captured, function, common_args)`."""

        def __init__(self, input_dataset, fn, transformation, make_variant, keep_spec=False):
            self._input_dataset = input_dataset
            self._name = None
            self._fn = structured_function.StructuredFunctionWrapper(
                fn, transformation, dataset=input_dataset, defun_kwargs=dict(_ATTRIBUTES)
            )
            self._spec = input_dataset.element_spec if keep_spec else self._fn.output_structure
            function = self._fn.function
            variant = make_variant(input_dataset._variant_tensor, function.captured_inputs, function, self._common_args)
            super().__init__(input_dataset, variant)

        def _functions(self):
            return [self._fn]

        @property
        def element_spec(self):
            return self._spec


def single_device_map(ds, fn, num_parallel_calls=None, deterministic=None):
    """`ds.map(fn, num_parallel_calls, deterministic)`, instantiated on the single-device path."""
    if not _available():
        return ds.map(fn, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    if num_parallel_calls is None:

        def sequential(variant, captured, function, common):
            return gen_dataset_ops.map_dataset(
                variant, captured, f=function, use_inter_op_parallelism=True, preserve_cardinality=True, **common
            )

        return _SingleDeviceDataset(ds, fn, "Dataset.map()", sequential).with_options(_options())
    order = {None: "default", True: "true", False: "false"}[None if deterministic is None else bool(deterministic)]

    def parallel(variant, captured, function, common):
        return gen_dataset_ops.parallel_map_dataset_v2(
            variant, captured, f=function, num_parallel_calls=tf.constant(num_parallel_calls, tf.int64),
            deterministic=order, use_inter_op_parallelism=True, preserve_cardinality=True, **common
        )

    return _SingleDeviceDataset(ds, fn, "Dataset.map()", parallel).with_options(_options())


def single_device_filter(ds, predicate):
    """`ds.filter(predicate)`, instantiated on the single-device path."""
    if not _available():
        return ds.filter(predicate)

    def make_filter(variant, captured, function, common):
        return gen_dataset_ops.filter_dataset(variant, other_arguments=captured, predicate=function, **common)

    filtered = _SingleDeviceDataset(ds, predicate, "Dataset.filter()", make_filter, keep_spec=True)
    if not filtered._fn.output_structure.is_compatible_with(tf.TensorSpec([], tf.bool)):
        raise ValueError(f"`predicate` must return a scalar tf.bool. Received: {filtered._fn.output_structure}")
    return filtered.with_options(_options())
