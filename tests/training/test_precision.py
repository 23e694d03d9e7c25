import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from mmfusion_tf.training.precision import PRECISIONS, apply_precision, cpu_flags, resolve_precision
from tests.models.test_builder import _config, _features, _labels

CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
model name\t: {model}
flags\t\t: fpu sse sse2 avx avx2 fma {extra}

processor\t: 1
flags\t\t: fpu sse sse2 avx avx2 fma {extra}
"""


def _probes(flags=(), gpus=(), tpu=False):
    return {"read_cpu_flags": lambda: set(flags), "gpu_capabilities": lambda: list(gpus), "has_tpu": lambda: tpu}


@pytest.mark.parametrize("hardware, expected", [
    ({}, "float32"),
    ({"flags": ["avx2", "avx512f"]}, "float32"),
    ({"flags": ["avx512_bf16"]}, "mixed_bfloat16"),
    ({"flags": ["amx_bf16", "amx_tile"]}, "mixed_bfloat16"),
    ({"tpu": True}, "mixed_bfloat16"),
    ({"gpus": [(8, 0)]}, "mixed_float16"),
    ({"gpus": [(7, 0)], "flags": ["avx512_bf16"]}, "mixed_float16"),
    ({"gpus": [(6, 1)]}, "float32"),  # Pascal: no tensor cores
    ({"gpus": [(6, 1)], "flags": ["avx512_bf16"]}, "mixed_bfloat16"),
])
def test_auto_follows_the_hardware(hardware, expected):
    assert resolve_precision("auto", **_probes(**hardware)) == expected


@pytest.mark.parametrize("name", PRECISIONS[1:])
def test_explicit_precision_is_kept_whatever_the_hardware(name):
    assert resolve_precision(name, **_probes(flags=["avx512_bf16"], gpus=[(9, 0)])) == name


def test_auto_on_this_machine_is_a_concrete_policy():
    assert resolve_precision("auto") in PRECISIONS[1:]


def test_unknown_precision_names_the_argument_and_the_choices():
    with pytest.raises(ValueError, match=r"`precision` must be one of \['auto', 'float32', 'mixed_float16', "
                                         r"'mixed_bfloat16'\]. Received: precision='fp8'"):
        resolve_precision("fp8")


@pytest.mark.parametrize("extra, has_bf16", [("", False), ("avx512f avx512_bf16", True), ("amx_bf16 amx_tile", True)])
def test_cpu_flags_reads_cpuinfo(tmp_path, extra, has_bf16):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(vendor="AuthenticAMD", model="AMD EPYC", extra=extra))
    flags = cpu_flags(str(path))
    assert {"avx2", "fma"} <= flags
    assert bool({"avx512_bf16", "amx_bf16"} & flags) is has_bf16
    assert resolve_precision("auto", read_cpu_flags=lambda: flags, gpu_capabilities=list, has_tpu=bool) == (
        "mixed_bfloat16" if has_bf16 else "float32")


def test_cpu_flags_of_a_missing_file_is_empty(tmp_path):
    assert cpu_flags(str(tmp_path / "absent")) == set()


def test_apply_precision_sets_the_global_policy():
    assert apply_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert apply_precision("auto", **_probes()) == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mixed_float16_compiles_with_a_loss_scale_optimizer(hub_dir):
    apply_precision("mixed_float16")
    config = _config(hub_dir, method="concat")
    model = mmf.build_model(config)
    model.compile(keras.optimizers.Adam(1e-3), mmf.default_loss(config.head))
    assert model.dtype_policy.name == "mixed_float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("fusion").compute_dtype == "float16"
    output_dtypes = {k: t.dtype for k, t in model.output.items()}
    assert output_dtypes == dict.fromkeys(
        ["logits", "probabilities", "fusion_weights", "fused_logits", "modality_logits"], "float32"
    )


def test_mixed_bfloat16_model_trains_with_float32_outputs(hub_dir):
    apply_precision("mixed_bfloat16")
    config = _config(hub_dir, method="attention")
    model = mmf.build_model(config)
    fusion = model.get_layer("fusion")
    assert (fusion.compute_dtype, fusion.variable_dtype) == ("bfloat16", "float32")
    model.compile(keras.optimizers.Adam(1e-3), mmf.default_loss(config.head))
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # bfloat16 needs no loss scaling
    before = [w.numpy() for w in model.trainable_weights]
    history = model.fit(_features(), _labels("multiclass"), epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    after = [w.numpy() for w in model.trainable_weights]
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in after)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before))
    out = model.predict(_features(seed=2), verbose=0)
    assert out["logits"].dtype == np.float32 and out["probabilities"].dtype == np.float32
    np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tf.nn.softmax(out["logits"]).numpy(), out["probabilities"], atol=1e-5)
