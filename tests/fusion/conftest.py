"""Fixtures of the fusion tests."""

import pytest

from mmfusion_tf._keras import keras


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def mixed_bfloat16():
    """Runs a test under the `mixed_bfloat16` policy, then restores float32."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")
