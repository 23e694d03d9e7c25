"""The dev server's signature caller: what the public keyword call gives, on checked TensorFlow versions."""

import doctest

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf import _private_apis


class _Scorer(tf.Module):
    def __init__(self):
        super().__init__()
        self.weight = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                  tf.TensorSpec([None], tf.float32, name="amount")])
    def serve(self, words, amount):
        return {"score": tf.cast(tf.strings.length(words), tf.float32) * self.weight + amount,
                "echo": words}


@pytest.fixture(scope="module")
def signature(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("scorer"))
    module = _Scorer()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return tf.saved_model.load(path).signatures["serving_default"]


FEEDS = {"words": tf.constant([b"ab", b"abcd"]), "amount": tf.constant([0.5, -1.0])}


def _numpy(outputs):
    return {name: value.numpy() for name, value in outputs.items()}


def test_the_flat_call_gives_the_keyword_call_s_outputs_with_inputs_in_any_order(signature):
    expected = _numpy(signature(**FEEDS))
    got = _numpy(_private_apis.signature_caller(signature)(dict(reversed(FEEDS.items()))))
    assert sorted(got) == ["echo", "score"]
    np.testing.assert_array_equal(got["score"], [4.5, 7.0])
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


def test_an_untested_tensorflow_gets_the_public_keyword_call(signature, monkeypatch):
    keyword_calls = []
    public_call = type(signature).__call__

    def spy(self, *args, **kwargs):
        keyword_calls.append(sorted(kwargs))
        return public_call(self, *args, **kwargs)

    monkeypatch.setattr(type(signature), "__call__", spy)
    _private_apis.signature_caller(signature)(FEEDS)
    assert keyword_calls == []  # checked version: the flat call
    monkeypatch.setattr(_private_apis, "tested_version", lambda: False)
    outputs = _private_apis.signature_caller(signature)(FEEDS)
    assert keyword_calls == [["amount", "words"]]
    np.testing.assert_array_equal(outputs["score"].numpy(), [4.5, 7.0])


def test_the_example_runs(signature):
    runner = doctest.DocTestRunner()
    globs = {"tf": tf, "signature": signature, "signature_caller": _private_apis.signature_caller}
    for test in doctest.DocTestFinder().find(_private_apis.signature_caller, globs=globs):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0
