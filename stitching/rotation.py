"""The levelling rotation for a capture taken with a tilted camera (GPano pose angles).

Sign conventions, from Google's Photo Sphere XMP spec (GPano) and the aerospace
heading/pitch/roll it follows:

- ``PosePitchDegrees``: pitch of the image centre in degrees *above the horizon*
  (camera nose up is positive), -90..90.
- ``PoseRollDegrees``: roll in degrees, 0 = level; "as roll increases, the horizon rotates
  counterclockwise in the image", i.e. the camera is rolled clockwise as seen from behind
  (right side down, a right bank), -180..180.
- ``PoseHeadingDegrees``: compass heading of the image centre, clockwise from north. It is
  recorded as metadata, not baked into pixels, so it defaults to 0 here.
- The angles are applied as intrinsic heading, then pitch, then roll: the camera's
  orientation in the world is ``Yaw(heading) @ Pitch(pitch) @ Roll(roll)``, each a
  rotation about the camera's current up, right and forward axis in the sense above.

In panodock's world axes (x right, y up, z forward) that orientation takes a camera
(source image) direction to a world direction; the levelling rotation is its inverse.
"""

from __future__ import annotations

import math

import numpy as np


def pose_rotation(pitch_deg: float, roll_deg: float, yaw_deg: float = 0.0) -> np.ndarray:
    """Rotation that levels a capture taken at a GPano pitch/roll (and optional yaw).

    Pass the result as ``rotation`` to :meth:`tiling.cube.CubeProjector.project_face` or
    :func:`stitching.equirect.rotate_equirect`.

    Parameters
    ----------
    pitch_deg:
        GPano PosePitchDegrees: degrees the image centre looks above the horizon.
    roll_deg:
        GPano PoseRollDegrees: degrees of roll, positive = the horizon turns
        counterclockwise in the image (camera right side down).
    yaw_deg:
        Degrees the camera's forward direction points right of the output's centre. 0 keeps
        the capture's own centre (the default, since heading stays metadata); passing the
        PoseHeadingDegrees would put north at the centre.

    Returns
    -------
    np.ndarray
        float64 (3, 3) orthonormal matrix R taking a levelled world direction d to the
        direction ``R @ d`` in the source image. For example, with pitch 10 the source
        image's centre ``R @ d = (0, 0, 1)`` is seen at d = 10 deg above the horizon.
    """
    orientation = _yaw(yaw_deg) @ _pitch(pitch_deg) @ _roll(roll_deg)
    return orientation.T


def _yaw(deg: float) -> np.ndarray:
    # Turns forward (z) towards the right (x): a heading clockwise seen from above.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _pitch(deg: float) -> np.ndarray:
    # Turns forward (z) up (y): nose up.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _roll(deg: float) -> np.ndarray:
    # Turns right (x) down (-y): clockwise about forward as seen from behind the camera.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
