"""Serving: TF Serving clients (gRPC and REST) and a protocol-compatible dev server.

Production serving is `tensorflow/serving` (Docker, Kubernetes, or the `tensorflow-model-server` apt
package in Colab); `DevServer` / `mmfusion serve` speaks the same protocol for tests and offline use.

Example:

>>> from mmfusion_tf.serving import DevServer, PredictionClient, RestClient
>>> with DevServer("exports/demo") as server:
...     PredictionClient(server.grpc_target, "demo").predict({"image": "cat.png", "text": "a cat"})
...     RestClient(server.rest_url, "demo").predict({"text": "a cat", "image": "cat.png"}, format="columnar")
"""

from mmfusion_tf._lazy import lazy_names

_NAMES = {
    "PredictionClient": "client",
    "DevServer": "devserver",
    "smoke_test": "devserver",
    "ServingError": "errors",
    "RestClient": "rest_client",
}

__getattr__, __dir__ = lazy_names(__name__, _NAMES)

__all__ = ["DevServer", "PredictionClient", "RestClient", "ServingError", "smoke_test"]
