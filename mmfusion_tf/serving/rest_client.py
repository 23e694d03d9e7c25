"""`RestClient`: TF Serving's REST API from raw Python values.

Sends row (`{"instances": [...]}`) or columnar (`{"inputs": {...}}`) predict requests, with bytes as
`{"b64": ...}`, and reads outputs back into numpy arrays with the signature's dtypes. Works against
`tensorflow/serving` (port 8501) and `mmfusion serve` alike.

Example:

>>> client = RestClient("http://127.0.0.1:8501", "demo")
>>> client.predict({"image": "cat.png", "text": "a cat"}, format="columnar")["classes"]
array([0])
"""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import tensorflow as tf

from mmfusion_tf.serving import tensors
from mmfusion_tf.serving.client import ModelClient
from mmfusion_tf.serving.errors import ServingError, call_with_retries
from mmfusion_tf.serving.models import DEFAULT_SIGNATURE
from mmfusion_tf.serving.rest import json_to_array


def _to_json(value):
    """An input value as JSON: bytes as UTF-8 text when they decode (lossless), otherwise `{"b64": ...}`."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    if value.dtype != object:
        return value.tolist()
    return [_to_json(item) for item in value] if value.ndim else _to_json(value.item())


class RestClient(ModelClient):
    """A REST client for one served model.

    Args:
        base_url: str, e.g. `http://127.0.0.1:8501`.
        model_name: str, the served model's name.
        signature_name: str, the signature `predict` calls.
        version: int or None, ask for this version (`/versions/N`); default the latest.
        version_label: str or None, ask for a labelled version (`/labels/L`).
        timeout: float, seconds per HTTP request.
        retries: int, extra attempts when the server is unreachable or answers 503.
        backoff: float, seconds before the first retry; doubled at each one.

    Example:

    >>> RestClient("http://127.0.0.1:8501", "demo").status()["model_version_status"][0]["state"]
    'AVAILABLE'
    """

    def __init__(self, base_url, model_name, *, signature_name=DEFAULT_SIGNATURE, version=None, version_label=None,
                 timeout=10.0, retries=3, backoff=0.2):
        super().__init__(model_name, signature_name, version, version_label, timeout, retries, backoff)
        if not base_url.startswith(("http://", "https://")):
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")

    def model_url(self):
        url = f"{self.base_url}/v1/models/{urllib.parse.quote(self.model_name, safe='')}"
        if self.version is not None:
            url += f"/versions/{int(self.version)}"
        elif self.version_label is not None:
            url += f"/labels/{urllib.parse.quote(self.version_label, safe='')}"
        return url

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})

        def once():
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    return json.loads(reply.read())
            except urllib.error.HTTPError as error:
                text = error.read().decode("utf-8", "replace")
                try:
                    message = json.loads(text)["error"]
                except (ValueError, KeyError, TypeError):
                    message = text
                raise ServingError.from_http(error.code, message) from None
            except (urllib.error.URLError, ConnectionError) as error:
                raise ServingError("UNAVAILABLE", f"{url}: {getattr(error, 'reason', error)}") from None
            except TimeoutError:
                raise ServingError("DEADLINE_EXCEEDED", f"{url}: no answer within {self.timeout}s") from None

        return call_with_retries(once, self.retries, self.backoff)

    def status(self):
        """`GET /v1/models/{name}`: `{"model_version_status": [...]}`."""
        return self._request(self.model_url())

    def metadata(self):
        """`GET /v1/models/{name}/metadata`: `{"model_spec": ..., "metadata": {"signature_def": ...}}`."""
        return self._request(self.model_url() + "/metadata")

    def predict_json(self, body):
        """`POST {model}:predict` with a ready JSON body; returns the parsed JSON answer."""
        return self._request(self.model_url() + ":predict", body)

    def make_body(self, inputs, format="row"):  # noqa: A002 - TF Serving's word
        """The JSON body for raw `inputs` (see `predict`)."""
        if format not in ("row", "columnar"):
            raise ValueError(f"`format` must be 'row' or 'columnar'. Received: format={format!r}")
        arrays = tensors.raw_inputs_to_arrays(inputs, self.input_specs())
        body = {"signature_name": self.signature_name}
        if format == "columnar":
            body["inputs"] = {name: _to_json(array) for name, array in arrays.items()}
            return body
        sizes = {name: len(array) for name, array in arrays.items() if array.ndim}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"row format needs one batch size for every input. Received sizes: {sizes}")
        batch = next(iter(sizes.values()), 1)
        body["instances"] = [{name: _to_json(array[i]) for name, array in arrays.items()} for i in range(batch)]
        return body

    def predict(self, inputs, format="row"):  # noqa: A002
        """Runs the signature on raw inputs (as `PredictionClient.predict`) and returns numpy arrays.

        Args:
            inputs: dict of input name -> raw value (file path, bytes, str, number, list, array).
            format: `"row"` (`instances` -> `predictions`) or `"columnar"` (`inputs` -> `outputs`).

        Returns:
            dict of output name -> numpy array, typed as the signature says (strings as bytes).
        """
        signature_def = self.signature_def()
        answer = self.predict_json(self.make_body(inputs, format))
        names = sorted(signature_def.outputs)
        if format == "columnar":
            values = answer["outputs"] if len(names) > 1 else {names[0]: answer["outputs"]}
        elif len(names) > 1:
            values = {name: [row[name] for row in answer["predictions"]] for name in names}
        else:
            values = {names[0]: answer["predictions"]}
        try:
            return {name: json_to_array(value, tf.as_dtype(signature_def.outputs[name].dtype))
                    for name, value in values.items()}
        except ServingError as error:
            raise ValueError(f"unexpected predict answer from {self.model_url()}: {error.message}") from None
