"""Fixtures of the evaluation tests: small trained tabular models, built once."""

import pytest

from tests.evaluation import _models


@pytest.fixture(scope="session")
def presence_model():
    """(model, config): fixed weights 0.9 (left, carries the label) / 0.1 (right), presence inputs."""
    config = _models.tabular_config(presence=True)
    return _models.trained_tabular_model(config), config


@pytest.fixture(scope="session")
def zeroing_model():
    """(model, config): as `presence_model` but without presence inputs."""
    config = _models.tabular_config(presence=False)
    return _models.trained_tabular_model(config), config


@pytest.fixture(scope="session")
def geo_regression():
    """(model, config, data): regression on latitude ~ 42 / longitude ~ -71 and `x2`, no presence inputs."""
    return _models.geo_regression_model()
