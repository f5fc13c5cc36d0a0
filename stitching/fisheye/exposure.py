"""Exposure, white balance and vignetting: making the two lenses' brightness agree.

Per-channel gains in linear light make the two lenses agree in the overlap
(:func:`exposure_gains`). With gamma 2.2 a linear-light gain ``g`` is exactly a
multiplication by ``g ** (1 / 2.2)`` of the 8-bit values (up to clipping), applied to each
lens's half of the frame (:func:`compensate`), together with the gain that undoes the
profile's vignetting (:func:`vignetting_gain`).

The stitcher fits the gains together with the lenses' fall-off, from the overlap band
(:func:`stitching.fisheye.vignetting.fit_vignetting`); :func:`exposure_gains` is the plain
measure that ignores vignetting (the benchmark's baseline).
"""

from __future__ import annotations

import cv2
import numpy as np

from stitching.fisheye.geometry import Geometry

_GAMMA = 2.2
_LINEAR = (np.arange(256) / 255.0) ** _GAMMA  # 8-bit value -> linear light


def exposure_gains(strip0: np.ndarray, strip1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel linear-light gains that make two renderings of the seam agree.

    Each lens moves half way (in log terms), so neither is favoured. Pixels near black or
    clipped in either strip are left out.

    Returns
    -------
    tuple of np.ndarray
        float64 (3,) gains for lens 0 and lens 1, B, G, R.
    """
    a, b = strip0.reshape(-1, 3), strip1.reshape(-1, 3)
    ok = (a.min(axis=1) > 8) & (b.min(axis=1) > 8) & (a.max(axis=1) < 247) & (b.max(axis=1) < 247)
    if ok.sum() < 100:
        return np.ones(3), np.ones(3)
    la = _LINEAR[a[ok]].mean(axis=0)
    lb = _LINEAR[b[ok]].mean(axis=0)
    ratio = np.clip(la / np.maximum(lb, 1e-9), 0.25, 4.0)
    return 1.0 / np.sqrt(ratio), np.sqrt(ratio)


def compensate(
    img: np.ndarray,
    split: int,
    gains: tuple[np.ndarray, np.ndarray] | None,
    vignetting: np.ndarray | None,
) -> np.ndarray:
    """The frame with vignetting undone and exposure gains applied per lens half.

    Returns ``img`` itself when there is nothing to do.
    """
    if gains is not None and all(np.allclose(g, 1.0, atol=0.004) for g in gains):
        gains = None
    if vignetting is not None:
        out = img.astype(np.float32)
        out *= vignetting[:, :, None]
        if gains is not None:
            out[:, split:] *= gamma_gain(gains[0]).astype(np.float32)
            out[:, :split] *= gamma_gain(gains[1]).astype(np.float32)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if gains is None:
        return img
    # A per-channel multiplication as a diagonal colour transform: the same result as a
    # lookup table or cv2.multiply, at a third of their time.
    out = np.empty_like(img)
    for half, gain in ((np.s_[:, split:], gains[0]), (np.s_[:, :split], gains[1])):
        cv2.transform(img[half], np.diag(gamma_gain(gain)).astype(np.float32), dst=out[half])
    return out


def gamma_gain(gain: np.ndarray) -> np.ndarray:
    """The 8-bit (gamma 2.2) factor of a linear-light gain, per channel."""
    return np.asarray(gain, dtype=np.float64) ** (1.0 / _GAMMA)


def vignetting_gain(geometry: Geometry, split: int) -> np.ndarray:
    """float32 (H, W): the 8-bit gain undoing the profile's vignetting (Hugin's
    polynomial, in linear light), per lens half."""
    w, h = geometry.size
    gain = np.ones((h, w), dtype=np.float32)
    for geo, cols in ((geometry.lenses[0], slice(split, w)), (geometry.lenses[1], slice(0, split))):
        lens = geo.lens
        if not lens.has_vignetting:
            continue
        xs = np.arange(w, dtype=np.float32)[cols] + 0.5 - geo.centre[0]
        ys = np.arange(h, dtype=np.float32)[:, None] + 0.5 - geo.centre[1]
        r2 = (xs[None, :] ** 2 + ys**2) / np.float32(geo.vignetting_norm**2)
        v = 1.0 + r2 * (lens.vb + r2 * (lens.vc + r2 * lens.vd))
        gain[:, cols] = np.clip(v, 0.2, 1.0) ** np.float32(-1.0 / _GAMMA)
    return gain
