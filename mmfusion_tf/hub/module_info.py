"""What a TF-Hub module offers: its callables, signatures, inputs, outputs and weights.

Example:

>>> info = describe_module("/models/all-minilm-l6-v2/encoder")
>>> info["call"][0]["outputs"]["pooled_output"]
{'dtype': 'float32', 'shape': [None, 384]}
"""

import os

import numpy as np
import tensorflow as tf

from mmfusion_tf.hub_handles import register_text_ops
from mmfusion_tf import hub_mirror as mirror


def _spec(spec):
    if isinstance(spec, tf.TensorSpec):
        return {"dtype": spec.dtype.name, "shape": spec.shape.as_list() if spec.shape.rank is not None else None}
    return repr(spec)  # Python values in a signature (e.g. `training`)


def _structure(value):
    if isinstance(value, dict):
        return {str(k): _structure(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_structure(v) for v in value]
    return _spec(value)


def _call_entries(module):
    """One entry per traced `__call__`: inputs, `training` value and outputs."""
    entries = []
    for function in getattr(module.__call__, "concrete_functions", []):
        args, kwargs = function.structured_input_signature
        training = kwargs.get("training")
        if args and isinstance(args[-1], bool):  # `training` passed positionally
            args, training = args[:-1], args[-1]
        inputs = args[0] if len(args) == 1 else list(args)
        entries.append(
            {"inputs": _structure(inputs), "training": training, "outputs": _structure(function.structured_outputs)}
        )
    return sorted(entries, key=lambda e: str(e["training"]))


def _parameter_count(variables):
    return int(sum(np.prod(v.shape.as_list()) for v in variables if v.dtype.is_floating))


def output_dims(info):
    """`{output name: last dimension}` of a `describe_module` result (the first callable found)."""
    outputs = (
        info["call"][0]["outputs"] if info["call"]
        else next(iter(info["signatures"].values()), {}).get("outputs", {})
    )
    if isinstance(outputs, dict) and "shape" in outputs:
        outputs = {"output": outputs}
    if isinstance(outputs, list):
        outputs = {str(i): o for i, o in enumerate(outputs)}
    return {k: (v["shape"][-1] if isinstance(v, dict) and v.get("shape") else None) for k, v in outputs.items()}


def describe_module(path):
    """Loads the module at `path` and describes it (JSON-serialisable dict).

    Keys: `path`, `reusable` (has `__call__`), `call` (per traced `__call__`:
    `inputs`, `training`, `outputs` as dtype/shape), `signatures` (name ->
    `inputs`/`outputs`), `variables`, `trainable_variables`,
    `parameters`, `trainable_parameters` (float weights),
    `regularization_losses`, `output_dims`.
    """
    if not mirror.is_module_dir(path):
        raise ValueError(f"`path`={path!r} is not a SavedModel folder (no saved_model.pb).")
    register_text_ops()
    module = tf.saved_model.load(path)
    variables = list(getattr(module, "variables", []) or [])
    trainable = list(getattr(module, "trainable_variables", []) or [])
    signatures = {}
    for name, function in sorted((getattr(module, "signatures", {}) or {}).items()):
        signatures[name] = {
            "inputs": _structure(function.structured_input_signature[1]),
            "outputs": _structure(function.structured_outputs),
        }
    info = {
        "path": os.path.abspath(path),
        "reusable": callable(module),
        "call": _call_entries(module) if callable(module) else [],
        "signatures": signatures,
        "variables": len(variables),
        "trainable_variables": len(trainable),
        "parameters": _parameter_count(variables),
        "trainable_parameters": _parameter_count(trainable),
        "regularization_losses": len(list(getattr(module, "regularization_losses", []) or [])),
    }
    info["output_dims"] = output_dims(info)
    return info
