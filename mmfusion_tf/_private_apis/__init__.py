"""The one place the package reads TensorFlow, Keras and KerasTuner internals, with the versions
they were checked on: Keras, KerasTuner, tf.data's single-device maps, and the flat call of a
loaded SavedModel signature (the dev server's).

Everything else uses public TensorFlow, Keras and KerasTuner APIs;
`tests/test_private_apis.py` fails on an untested version and on a private
access anywhere else. Each accessor says why there is no public API, and
what happens when the internal is gone (a fallback, or a clear error).

Example:

>>> from mmfusion_tf._private_apis import untested_versions
>>> untested_versions()   # the installed TensorFlow, Keras and KerasTuner were all tested
{}
"""

import contextlib
import importlib.metadata
import warnings
import weakref

import tensorflow as tf

from mmfusion_tf._keras import keras

# Release prefixes the internals below were checked on (the suite passes on them).
TESTED_VERSIONS = {
    "keras": ("3.15",),  # the private attributes and the distribution fix below
    # `tf.load_op_library`'s wrapper names (export/text_ops.py); tf.distribute under the fix; tf.data's
    # single-device maps; a loaded signature's `_call_flat` (`signature_caller`)
    "tensorflow": ("2.21",),
    "keras-tuner": ("1.4.8",),  # the KERASTUNER_* environment protocol tuning/search.py's `role` mirrors
}

# Keras releases whose `fit` fails under a distribution strategy in the two
# ways `fix_keras_distribution` repairs (keras-team/keras#20329, open).
KERAS_DISTRIBUTION_FIX_VERSIONS = ("3.15",)


def _matches(version, prefixes):
    return any(version == p or version.startswith(p + ".") for p in prefixes)


def installed_versions():
    """`{distribution: installed version or None}` for the packages in `TESTED_VERSIONS`."""
    versions = {}
    for name in TESTED_VERSIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def untested_versions():
    """`{distribution: installed version}` of the packages not at a version in `TESTED_VERSIONS`."""
    return {name: v for name, v in installed_versions().items() if not (v and _matches(v, TESTED_VERSIONS[name]))}


# --- layers and variables ---------------------------------------------------


def sublayers(layer, recursive=False):
    """The layers nested in `layer` (not itself), in Keras' tracking order.

    No public API: `Model.layers` lists a model's direct children only, and
    a plain `Layer` has no public list of the layers it holds. Fallback (a
    Keras without `_flatten_layers`): `layers_in_attributes`.

    Example:

    >>> inputs = keras.Input((3,), name="x")
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs))
    >>> [sub.name for sub in sublayers(model)]
    ['x', 'd']
    """
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return layers_in_attributes(layer, recursive)
    return list(flatten(include_self=False, recursive=recursive))


def layers_in_attributes(layer, recursive=False):
    """The layers held in `layer`'s attributes (also in lists, tuples and dicts), in assignment order.

    Public Python only. It finds the layers `sublayers` does (Keras tracks
    the layers assigned to attributes), nested ones possibly in another
    order, plus any a layer keeps for itself (a `Sequential`'s functional twin).

    Example:

    >>> inputs = keras.Input((3,), name="x")
    >>> [sub.name for sub in layers_in_attributes(keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs)))]
    ['x', 'd']
    """
    found, seen = [], {id(layer)}

    def visit(value):
        if isinstance(value, keras.layers.Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
                if recursive:
                    for item in vars(value).values():
                        visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for value in vars(layer).values():
        visit(value)
    return found


def created_trainable_variables(layer):
    """`layer`'s own variables that were created trainable, frozen ones included, in creation order.

    No public API: `layer.trainable_weights` drops the variables frozen one by
    one (`v.trainable = False`), and `layer.weights` mixes them with those
    created non-trainable. No fallback: without this list a transfer stage
    would freeze the wrong variables, so a Keras without it raises.

    Example:

    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 3))
    >>> dense.kernel.trainable = False
    >>> [v.name for v in created_trainable_variables(dense)]
    ['kernel', 'bias']
    """
    try:
        return list(layer._trainable_variables)
    except AttributeError:
        raise NotImplementedError(
            f"Keras {keras.__version__} has no `Layer._trainable_variables`; mmfusion_tf was tested with Keras "
            f"{', '.join(TESTED_VERSIONS['keras'])}. Install a tested Keras."
        ) from None


def track_variable(layer, variable):
    """Makes `variable` one of `layer`'s weights (trainable or not, as the variable says), in call order.

    `HubEncoder` adopts the variables of a loaded TF-Hub module this way. No
    public API adds an existing variable to a layer: `add_weight` creates a
    new one, and a list of variables assigned to a layer attribute is not
    trained by `fit` here (tested in tests/backbones/test_hub_encoder.py).
    Errors clearly when the Keras internal is gone.

    >>> track_variable(layer, keras.Variable(initializer=module_variable, trainable=True))
    """
    track = getattr(layer, "_track_variable", None)
    if track is None:
        raise RuntimeError(
            "This Keras has no Layer._track_variable, which HubEncoder uses to adopt a TF-Hub module's variables. "
            f"mmfusion_tf was tested with Keras {', '.join(TESTED_VERSIONS['keras'])}. Install a tested Keras."
        )
    track(variable)


def compiled_loss(model):
    """The loss `model.compile(loss=...)` built (a callable `(y, y_pred, sample_weight)`), or None.

    No public API: `Model.compute_loss` adds the model's other losses to it,
    and `model.loss` is the uncompiled argument. No fallback (a silent None
    would drop the modality-head losses): a Keras without it raises.

    Example:

    >>> model.compile("adam", "mse")
    >>> compiled_loss(model)(y, model(x), None)
    """
    try:
        return model._compile_loss
    except AttributeError:
        raise NotImplementedError(
            f"Keras {keras.__version__} has no `Trainer._compile_loss`; mmfusion_tf was tested with Keras "
            f"{', '.join(TESTED_VERSIONS['keras'])}. Install a tested Keras."
        ) from None


# --- the distribution fix ---------------------------------------------------

_FIXED = {}  # id(strategy) -> (weak reference, average_logs_over_workers)
_ORIGINALS = {}  # the Keras functions the hooks stand in for, while installed


def _fix_for(strategy):
    entry = _FIXED.get(id(strategy))
    return entry if entry is not None and entry[0]() is strategy else None


def _first_local_replica(strategy, value):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # Keras' TensorFlowTrainer._maybe_symbolic_build MEAN-reduces the first
    # input batch across replicas to learn its shapes, which fails for string
    # inputs and, across workers, for (features, label) structures. One
    # replica's batch has the shapes it needs.
    strategy = self._distribute_strategy
    if strategy is None or _fix_for(strategy) is None:
        return _ORIGINALS["_maybe_symbolic_build"](self, iterator=iterator, data_batch=data_batch)
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(lambda v: _first_local_replica(strategy, v), next(batches))
            break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    # Keras averages each step's scalar logs across workers with `axis=0`,
    # which fails on scalars; averaging across replicas (`axis=None`) is what it means.
    fix = _fix_for(strategy)
    if reduction == "auto" and fix is not None and fix[1]:
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _ORIGINALS["reduce_per_replica"](values, strategy, reduction)


def _keras_trainer_module():
    from keras.src.backend.tensorflow import trainer  # no public handle on the functions fit calls

    if not hasattr(trainer, "reduce_per_replica") or not hasattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build"):
        return None
    return trainer


def keras_distribution_fix_installed():
    """Whether the hooks of `fix_keras_distribution` are in Keras now."""
    return bool(_ORIGINALS)


def fix_keras_distribution(strategy, average_logs_over_workers=False):
    """Lets Keras `fit`/`evaluate` the models built under `strategy`'s scope; returns whether it could.

    Keras 3.15 fails there in two places (keras-team/keras#20329): it
    MEAN-reduces the first input batch across replicas to learn its shapes
    (fails for string inputs, and across workers for `(features, label)`),
    and it averages each step's scalar logs across workers with `axis=0`
    (fails on scalars; only with `average_logs_over_workers`, for a
    multi-worker strategy). No public API: the steps live in Keras'
    TensorFlow trainer. Hooks stand in for the two functions while a fixed
    strategy lives (or until `release_keras_distribution_fix`) and leave
    every other model's training to Keras. On a Keras release not in
    `KERAS_DISTRIBUTION_FIX_VERSIONS` nothing is changed and a warning says so.

    Example:

    >>> strategy = tf.distribute.MultiWorkerMirroredStrategy()
    >>> fix_keras_distribution(strategy, average_logs_over_workers=True)
    True
    """
    trainer = _keras_trainer_module() if _matches(keras.__version__, KERAS_DISTRIBUTION_FIX_VERSIONS) else None
    if trainer is None:
        warnings.warn(
            f"Keras {keras.__version__} is not a release mmfusion_tf's distribution fix is known for "
            f"({', '.join(KERAS_DISTRIBUTION_FIX_VERSIONS)}): Keras runs unchanged, and `fit` under "
            f"{type(strategy).__name__} may fail on string inputs or step logs (keras-team/keras#20329).",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    key = id(strategy)

    def forget(reference):
        if _FIXED.get(key, (None,))[0] is reference:
            _release(key)

    _FIXED[key] = (weakref.ref(strategy, forget), bool(average_logs_over_workers))
    if not _ORIGINALS:
        _ORIGINALS["_maybe_symbolic_build"] = trainer.TensorFlowTrainer._maybe_symbolic_build
        _ORIGINALS["reduce_per_replica"] = trainer.reduce_per_replica
        trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
        trainer.reduce_per_replica = _reduce_per_replica
    return True


def _release(key):
    _FIXED.pop(key, None)
    if _FIXED or not _ORIGINALS:
        return
    trainer = _keras_trainer_module()
    trainer.TensorFlowTrainer._maybe_symbolic_build = _ORIGINALS.pop("_maybe_symbolic_build")
    trainer.reduce_per_replica = _ORIGINALS.pop("reduce_per_replica")


def release_keras_distribution_fix(strategy):
    """Ends `fix_keras_distribution(strategy)`; Keras is as shipped again once no fixed strategy is left.

    Example:

    >>> release_keras_distribution_fix(strategy)
    >>> keras_distribution_fix_installed()
    False
    """
    _release(id(strategy))


def _warn_if_untested():
    if not _matches(keras.__version__, TESTED_VERSIONS["keras"]):
        warnings.warn(
            f"mmfusion_tf reads Keras internals checked on Keras {', '.join(TESTED_VERSIONS['keras'])}; "
            f"installed: {keras.__version__}. Run tests/test_private_apis.py before relying on it.",
            RuntimeWarning,
            stacklevel=3,
        )


_warn_if_untested()


# --- tf.data: single-device maps ---------------------------------------------
# Adapter: `Dataset.map` whose function a new iterator instantiates without Grappler.
#
# The one place the data pipeline uses TensorFlow internals, and why. Every
# new iterator (every epoch of `fit`) instantiates the functions of its
# pipeline again. tf.data does that on its multi-device path by default,
# which runs Grappler over each function every time; functions carrying the
# `experimental_ints_on_device` attribute take the single-device path
# instead (TensorFlow's own `map_on_gpu` and `copy_to_device` set it), where
# only the classic graph optimiser runs. On the CPU, where tf.data functions
# run, the attribute changes nothing else: the values are the same. No public
# API sets it on a `Dataset.map` function; `single_device_map` builds the
# same dataset op as `Dataset.map` with the attribute set
# (`StructuredFunctionWrapper`, the generated dataset ops). What that saves,
# and what it changes in `fit`, `bench/input_pipeline.py` measures side by
# side (with `plain_maps()`); docs/benchmarks.md has the figures.
#
# Falls back to `Dataset.map` (the same values, slower new iterators) where
# the internals are missing, in tf.data debug mode, on a TensorFlow version
# outside `TESTED_VERSIONS` (tests/test_private_tf_data.py fails there,
# so a TensorFlow upgrade is checked before it is trusted), and inside
# `plain_maps()`.
#
# Example:
#
# >>> ds = single_device_map(tf.data.Dataset.range(4), lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE)
# >>> [int(x) for x in ds]
# [0, 2, 4, 6]

try:
    from tensorflow.python.data.ops import dataset_ops, debug_mode, structured_function
    from tensorflow.python.ops import gen_dataset_ops
except ImportError:  # another TensorFlow layout: plain `Dataset.map`
    dataset_ops = None

_ATTRIBUTES = {"experimental_ints_on_device": True}
_plain = []  # non-empty inside `plain_maps()`


def tested_version(version=tf.__version__):
    """Whether `version` ("2.21.0") is one of `TESTED_VERSIONS["tensorflow"]`."""
    return ".".join(version.split(".")[:2]) in TESTED_VERSIONS["tensorflow"]


def signature_caller(function):
    """`call(feeds) -> outputs` for a loaded SavedModel signature, without the keyword binding.

    No public API: a signature called with keyword tensors binds, flattens and
    checks them in Python on every call (0.1-0.25 ms for the 5 inputs of
    `bench/serving.py`'s export, next to the model's 3 ms); `_call_flat` takes
    the flat list in the signature's (sorted) order. The caller checks names,
    dtypes and shapes first: the dev server does, against the SignatureDef.
    Fallback (an untested TensorFlow, or a function without `_call_flat`): the
    public keyword call.

    Example:

    >>> call = signature_caller(signature)  # tf.saved_model.load(path).signatures["serving_default"]
    >>> call({"words": tf.constant([b"ab"]), "amount": tf.constant([0.5])})["score"].numpy()
    array([4.5], dtype=float32)
    """
    args, kwargs = function.structured_input_signature
    names = sorted(kwargs)
    call_flat = getattr(function, "_call_flat", None)
    captured = list(function.captured_inputs)  # the model's variable handles: fixed while `function` lives
    if call_flat is None or not tested_version() or args or len(function.inputs) != len(names) + len(captured):
        return lambda feeds: function(**feeds)
    return lambda feeds: call_flat([feeds[name] for name in names], captured)


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
    """`ds.map(fn, num_parallel_calls, deterministic)`, instantiated on the single-device path when `available()`.

    >>> [int(x) for x in single_device_map(tf.data.Dataset.range(4), lambda x: x * 2, num_parallel_calls=2)]
    [0, 2, 4, 6]
    """
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
