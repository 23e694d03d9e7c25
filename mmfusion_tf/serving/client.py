"""`PredictionClient`: TF Serving's gRPC API from raw Python values.

Works against `tensorflow/serving` and `mmfusion serve` alike: Predict, GetModelMetadata and
GetModelStatus through the `tensorflow-serving-api` stubs, with a deadline on every call, retries with
exponential backoff while the server is UNAVAILABLE (starting, restarting), optional TLS, and message
limits raised from gRPC's 4 MB default so that images fit.

Example:

>>> client = PredictionClient("127.0.0.1:8500", "demo")
>>> out = client.predict({"image": "cat.png", "text": "a cat on a mat", "audio": "meow.wav"})
>>> out["labels"], out["probabilities"].shape
(array([b'cat'], dtype=object), (1, 3))
"""

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from mmfusion_tf.serving import tensors
from mmfusion_tf.serving.errors import ServingError, call_with_retries
from mmfusion_tf.serving.models import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD
from mmfusion_tf.serving.rest import metadata_to_json, signature_defs_from_json, status_to_json


class ModelClient:
    """What both clients hold: the model, signature and version to ask for, and how long and how often to try.

    Args: as `PredictionClient` (`model_name` ... `backoff`).
    """

    def __init__(self, model_name, signature_name, version, version_label, timeout, retries, backoff):
        if version is not None and version_label is not None:
            raise ValueError(f"Pass `version` or `version_label`, not both. Received: version={version}, "
                             f"version_label={version_label!r}")
        if timeout <= 0:
            raise ValueError(f"`timeout` must be positive. Received: timeout={timeout}")
        if retries < 0 or backoff < 0:
            raise ValueError(f"`retries` and `backoff` must be >= 0. Received: retries={retries}, backoff={backoff}")
        self.model_name = model_name
        self.signature_name = signature_name
        self.version = version
        self.version_label = version_label
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._signature_defs = None
        self._input_specs = None

    def metadata(self):
        raise NotImplementedError

    def signature_def(self):
        """The SignatureDef `predict` fills (read once from the server's metadata, then cached)."""
        if self._signature_defs is None:
            self._signature_defs = signature_defs_from_json(self.metadata())
            self._input_specs = {name: tensors.input_specs(d) for name, d in self._signature_defs.items()}
        if self.signature_name not in self._signature_defs:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{self.signature_name}" not found.')
        return self._signature_defs[self.signature_name]

    def input_specs(self):
        """`tensors.input_specs` of `signature_def()`, read with it."""
        self.signature_def()
        return self._input_specs[self.signature_name]


class PredictionClient(ModelClient):
    """A gRPC client for one served model.

    Args:
        target: str, `HOST:PORT` of the gRPC server.
        model_name: str, the served model's name.
        signature_name: str, the signature `predict` calls.
        version: int or None, ask for this version (default: the latest the server has).
        version_label: str or None, ask for the version with this label (`stable`, `canary`).
        timeout: float, deadline of each call, in seconds.
        retries: int, extra attempts when the server answers UNAVAILABLE.
        backoff: float, seconds before the first retry; doubled at each one.
        tls: bool, use a TLS channel (with the system's root certificates unless `root_certificates`).
        root_certificates: bytes or str (a PEM file path) or None, CA certificates for TLS; implies `tls`.
        max_message_mb: int, gRPC send and receive limit, in MB.

    Example:

    >>> with PredictionClient("127.0.0.1:8500", "demo", timeout=5.0) as client:
    ...     client.status()["model_version_status"][0]["state"]
    'AVAILABLE'
    """

    def __init__(self, target, model_name, *, signature_name=DEFAULT_SIGNATURE, version=None, version_label=None,
                 timeout=10.0, retries=3, backoff=0.2, tls=False, root_certificates=None, max_message_mb=64):
        super().__init__(model_name, signature_name, version, version_label, timeout, retries, backoff)
        self.target = target
        self.tls = tls or root_certificates is not None
        self.root_certificates = root_certificates
        self.max_message_mb = max_message_mb
        limit = max_message_mb * 1024 * 1024
        options = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
        if self.tls:
            certificates = root_certificates
            if isinstance(certificates, str):
                with open(certificates, "rb") as f:
                    certificates = f.read()
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(certificates), options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def _fill_spec(self, spec):
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.version_label is not None:
            spec.version_label = self.version_label

    def _call(self, method, request, timeout):
        def once():
            try:
                return method(request, timeout=timeout or self.timeout)
            except grpc.RpcError as error:
                raise ServingError(error.code().name, error.details() or "") from None

        return call_with_retries(once, self.retries, self.backoff)

    def metadata_response(self, timeout=None):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[SIGNATURE_DEF_FIELD])
        self._fill_spec(request.model_spec)
        return self._call(self._predictions.GetModelMetadata, request, timeout)

    def metadata(self, timeout=None):
        """The model's metadata as TF Serving's REST API shows it.

        Returns:
            dict `{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": {name: ...}}}}`.
        """
        return metadata_to_json(self.metadata_response(timeout))

    def status(self, timeout=None):
        """Every version's state: `{"model_version_status": [{"version": "1", "state": "AVAILABLE", ...}]}`."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._fill_spec(request.model_spec)
        return status_to_json(self._call(self._models.GetModelStatus, request, timeout))

    def make_request(self, inputs, output_filter=None):
        """The PredictRequest for raw `inputs` (see `predict`)."""
        arrays = tensors.raw_inputs_to_arrays(inputs, self.input_specs())
        request = predict_pb2.PredictRequest(output_filter=list(output_filter or []))
        self._fill_spec(request.model_spec)
        request.model_spec.signature_name = self.signature_name
        for name, array in arrays.items():
            # Requests carry tensor_content (compact, parsed in one copy); typed fields are for responses.
            tensors.fill_request_proto(request.inputs[name], array)
        return request

    def predict_response(self, inputs, output_filter=None, timeout=None):
        """Predict, returning the raw PredictResponse (with the `model_spec` that answered)."""
        request = self.make_request(inputs, output_filter)
        try:
            return self._call(self._predictions.Predict, request, timeout)
        except ServingError as error:
            if error.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                self._signature_defs = None  # a new version may have a new signature: read it again next time
            raise

    def predict(self, inputs, output_filter=None, timeout=None):
        """Runs the signature on raw inputs and returns its outputs as numpy arrays.

        Args:
            inputs: dict of input name -> value. A value is a file path (a `str` ending in an image or audio
                extension, or a `pathlib.Path`: sent as the file's bytes), bytes, a str (sent as UTF-8), a
                number, a list or a numpy array; one example (no batch axis) is sent as a batch of one.
            output_filter: list of output names to return (default: all).
            timeout: float, this call's deadline (default: the client's).

        Returns:
            dict of output name -> numpy array (strings as object arrays of bytes).
        """
        response = self.predict_response(inputs, output_filter, timeout)
        return {name: tensors.to_ndarray(proto) for name, proto in response.outputs.items()}

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
