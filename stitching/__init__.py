"""Equirect geometry, levelling and partial-panorama placement: pure array code, no I/O."""

from stitching.equirect import CroppedArea, place_cropped, rotate_equirect, validate_area
from stitching.rotation import pose_rotation

__all__ = ["CroppedArea", "place_cropped", "pose_rotation", "rotate_equirect", "validate_area"]
