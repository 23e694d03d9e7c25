"""`tf.distribute` strategies by name, and which worker is the chief.

Build and compile the model under `strategy.scope()`; `fit` then splits each
global batch across the replicas (and, with several workers, shards the
dataset between them). `multi_worker` reads the cluster from the `TF_CONFIG`
environment variable and must be created at program start, before other
TensorFlow ops run.

Keras 3.15 cannot `fit` under a multi-worker strategy as shipped, nor on
string inputs under several local replicas (keras-team/keras#20329);
`make_strategy` fixes those steps for the models built under the strategy
it returns (`fix_keras_distribution`), and only on the Keras releases the
fix is known for. Other strategies and models train with Keras as shipped.

Example:

>>> strategy = make_strategy("multi_worker")   # TF_CONFIG set by the launcher
>>> with strategy.scope():
...     model = build_model(config)
...     model.compile("adam", default_loss(config.head))
>>> model.fit(dataset, epochs=3)
>>> if is_chief():
...     model.save("model.keras")
"""

import json
import os

import tensorflow as tf

from mmfusion_tf._private_apis import fix_keras_distribution
from mmfusion_tf.config import STRATEGIES

_TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


def read_tf_config(environ=None):
    """The parsed `TF_CONFIG` of `environ` (default `os.environ`); `{}` when unset.

    Raises a `ValueError` naming `TF_CONFIG` when it is not a JSON object with
    a `cluster` of address lists and a `task` (`type`, `index`) in it.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"`TF_CONFIG` is not valid JSON ({error}). Received: TF_CONFIG={text!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"`TF_CONFIG` must be a JSON object. Received: TF_CONFIG={text!r}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not all(isinstance(v, list) for v in cluster.values()):
        raise ValueError(
            f"`TF_CONFIG` needs a `cluster` mapping task types to address lists. Received: TF_CONFIG={text!r}"
        )
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"`TF_CONFIG` needs a `task` with `type` and `index`. Received: TF_CONFIG={text!r}")
    if task["type"] != "evaluator":  # the evaluator is not listed in the cluster
        addresses = cluster.get(task["type"], [])
        if not isinstance(task["index"], int) or not 0 <= task["index"] < len(addresses):
            raise ValueError(
                f"`TF_CONFIG` task {task['type']}:{task['index']} is not in the cluster "
                f"({ {k: len(v) for k, v in cluster.items()} }). Received: TF_CONFIG={text!r}"
            )
    return config


def is_chief(environ=None):
    """Whether this process should write checkpoints, exports and reports.

    True without `TF_CONFIG` (a single process), for the `chief` task, and for
    worker 0 of a cluster that has no `chief`; False for other workers and the
    evaluator.
    """
    config = read_tf_config(environ)
    if not config:
        return True
    task_type, index = config["task"]["type"], config["task"]["index"]
    if task_type == "chief":
        return True
    return task_type == "worker" and index == 0 and "chief" not in config["cluster"]


def _spans_workers(tf_config):
    """Whether this process trains with other workers (`TF_CONFIG` lists several chief/worker tasks)."""
    if not tf_config or tf_config["task"]["type"] not in ("chief", "worker"):
        return False
    cluster = tf_config["cluster"]
    return len(cluster.get("chief", [])) + len(cluster.get("worker", [])) > 1


def _tpu_strategy(tpu):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        if tpu != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, ImportError, tf.errors.OpError) as error:
        raise RuntimeError(
            f"`strategy='tpu'` found no TPU (tpu={tpu!r}): {type(error).__name__}: {str(error)[:300]}. "
            "Pass tpu='local' on a TPU VM, or the TPU name or grpc:// address; use strategy='default' "
            "or 'mirrored' on CPUs and GPUs."
        ) from error
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name="default", tpu=None):
    """A `tf.distribute.Strategy` by name.

    Args:
        name: str, one of `STRATEGIES`: `"default"` (the current strategy,
            one device), `"mirrored"` (all local GPUs, or the CPU),
            `"multi_worker"` (`MultiWorkerMirroredStrategy` over the cluster
            in `TF_CONFIG`), `"tpu"` (`TPUStrategy`).
        tpu: str or None, for `"tpu"` only: the TPU name, `grpc://` address
            or `"local"` (TPU VM); None lets the resolver find it (Cloud).

    Returns:
        A `tf.distribute.Strategy`. Keras' distributed `fit` is fixed for the
        models built under its scope while it lives (see the module docs).
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {list(STRATEGIES)}. Received: strategy={name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker" and not read_tf_config():
        raise ValueError(
            "`strategy='multi_worker'` needs the `TF_CONFIG` environment variable describing the "
            f"cluster and this process's task, e.g. {_TF_CONFIG_EXAMPLE}. Received: TF_CONFIG unset."
        )
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = _tpu_strategy(tpu)
    spans_workers = name == "multi_worker" and _spans_workers(read_tf_config())
    fix_keras_distribution(strategy, average_logs_over_workers=spans_workers)
    return strategy
