"""Sphere maths: the published cube face table, face pixel <-> direction, face maps.

Property tests (hypothesis) check the round trips against the face table written out here
again, so the tests do not trust the code's copy.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stitching.sphere import FACES, direction_to_face, face_directions, face_maps
from tests.tiling.reference import DIRECTIONS

# The published face table, written out apart from the code's copy (the tiling tests'
# independent reference keeps it): face -> direction of face pixel (a, b in [-1, 1]).
TABLE = DIRECTIONS


def equirect_xy(x, y, z, width, height):
    """Float source coordinates with pixel centres at integers (u - 0.5, v - 0.5)."""
    norm = np.sqrt(x * x + y * y + z * z)
    yaw = np.arctan2(x, z)
    pitch = np.arcsin(np.clip(y / norm, -1, 1))
    return (yaw / (2 * np.pi) + 0.5) * width - 0.5, (0.5 - pitch / np.pi) * height - 0.5


def direction(yaw_deg, pitch_deg):
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    x, z = np.cos(pitch) * np.sin(yaw), np.cos(pitch) * np.cos(yaw)
    return np.stack([x, np.sin(pitch) * np.ones_like(yaw), z], axis=-1)


@settings(max_examples=200, deadline=None)
@given(face=st.sampled_from(FACES), size=st.integers(1, 48), data=st.data())
def test_face_directions_invert(face, size, data):
    i, j = data.draw(st.integers(0, size - 1)), data.draw(st.integers(0, size - 1))
    d = face_directions(face, size)[j, i]
    assert abs(np.linalg.norm(d) - 1) < 1e-6
    got_face, col, row = direction_to_face(d, size)
    assert got_face == face
    assert col == pytest.approx(i + 0.5, abs=1e-4) and row == pytest.approx(j + 0.5, abs=1e-4)


@settings(max_examples=300, deadline=None)
@given(yaw=st.floats(-180, 180), pitch=st.floats(-90, 90), size=st.integers(1, 4096))
def test_direction_face_pixel_round_trip(yaw, pitch, size):
    d = direction(yaw, pitch)
    face, col, row = direction_to_face(d * 3.0, size)
    assert 0 <= col <= size and 0 <= row <= size
    back = np.array(TABLE[face](np.float64(2 * col / size - 1), np.float64(2 * row / size - 1)))
    assert np.allclose(back / np.linalg.norm(back), d, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    face=st.sampled_from(FACES),
    size=st.integers(1, 64),
    width=st.integers(8, 9000),
    data=st.data(),
)
def test_face_maps_point_at_the_equirect_pixel_of_each_direction(face, size, width, data):
    i, j = data.draw(st.integers(0, size - 1)), data.draw(st.integers(0, size - 1))
    height = width // 2
    col, row = face_maps(face, size, width, height)
    a, b = 2 * (i + 0.5) / size - 1, 2 * (j + 0.5) / size - 1
    x, y, z = (np.float64(c) for c in TABLE[face](np.float64(a), np.float64(b)))
    u, v = equirect_xy(x, y, z, width, height)
    # Yaw +-180 deg are one place, and at a pole every column is the same point.
    seam_distance = (col[j, i] - u + width / 2) % width - width / 2
    cos_pitch = math.hypot(x, z) / math.sqrt(x * x + y * y + z * z)
    tolerance = 1e-6 * width + 1e-3
    assert abs(seam_distance) * cos_pitch < tolerance and abs(row[j, i] - v) < tolerance
