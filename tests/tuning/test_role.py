"""`role` reads KerasTuner's distributed-search environment as KerasTuner itself does."""

import pytest
from keras_tuner.src.distribute import utils as keras_tuner_utils  # the reference: private, tests only

from mmfusion_tf.tuning.search import role

IP, PORT, ID = "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"


def _keras_tuner_role():
    if not keras_tuner_utils.has_chief_oracle():
        return "single"
    return "chief" if keras_tuner_utils.is_chief_oracle() else "worker"


@pytest.mark.parametrize("environ, expected", [
    ({}, "single"),
    ({PORT: "8000", ID: "chief"}, "single"),
    ({IP: "127.0.0.1", PORT: "8000", ID: "chief"}, "chief"),
    ({IP: "127.0.0.1", PORT: "8000", ID: "chief-0"}, "chief"),
    ({IP: "127.0.0.1", PORT: "8000", ID: "tuner0"}, "worker"),
])
def test_role_matches_keras_tuner(monkeypatch, environ, expected):
    for name in (IP, PORT, ID):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert role() == _keras_tuner_role() == expected


@pytest.mark.parametrize("missing", [PORT, ID])
def test_role_needs_port_and_tuner_id_like_keras_tuner(monkeypatch, missing):
    for name, value in {IP: "127.0.0.1", PORT: "8000", ID: "tuner0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    with pytest.raises(RuntimeError, match=missing):
        role()
    with pytest.raises(RuntimeError, match=missing):
        _keras_tuner_role()
