"""Which files from a camera make one capture, when no sidecar says so.

The rule, applied to the files of one scan (paths relative to the source):

1. **Sidecar.** Every file under a folder holding ``capture.json`` is one capture (the
   shallowest such folder wins), as in the inbox.
2. **Same stem.** Files of one folder with the same name but the extension (``R0010001.JPG``
   and ``R0010001.DNG``) are one *shot*.
3. **Equirect alone.** A shot whose image is 2:1 (an equirect, or a dual-fisheye frame with
   both circles side by side) is a capture by itself: a 360° camera makes one scene per shot.
4. **Camera sequence and time gap.** Any other shot joins the previous shot's capture when
   both are in the same folder, its number (the trailing digits of the stem, as cameras
   count) is the previous number or the next, and it was taken at most ``gap_seconds`` after
   the previous shot: a tripod head's frames and their brackets follow each other within
   seconds, while moving to the next room takes minutes. A shot without a number is alone.

Each group carries the rule that decided it, in words (recorded in the capture's history).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from ingest.sidecar import SIDECAR_NAME
from stitching.kinds import is_equirect_aspect

_NUMBER: Final = re.compile(r"(\d+)$")


@dataclass(frozen=True, slots=True)
class GroupFile:
    """What grouping needs to know about one file."""

    path: str  # relative POSIX path on the source
    taken_at: float  # seconds (file or camera time)
    aspect: float | None  # width / height of its image, None if unknown or not an image


@dataclass(frozen=True, slots=True)
class Group:
    """Files that make one capture, and why."""

    name: str  # capture folder name, or the file name of a single-file capture
    paths: tuple[str, ...]  # source paths, in capture order
    names: tuple[str, ...]  # the same files' names inside the capture
    is_folder: bool
    rule: str  # the rule's choice, for the capture's history


def sequence_number(path: str) -> int | None:
    """The camera's counter in a file name: trailing digits of its stem (``IMG_0042`` -> 42)."""
    match = _NUMBER.search(PurePosixPath(path).stem)
    return int(match.group(1)) if match else None


def group_files(files: Iterable[GroupFile], *, gap_seconds: float) -> list[Group]:
    """Group ``files`` into captures by the module's rule.

    Parameters
    ----------
    files:
        Files found in one scan; order does not matter.
    gap_seconds:
        Largest time between consecutive shots of one capture, in seconds.

    Returns
    -------
    list of Group
        Every file is in exactly one group; groups are ordered by their first file.
    """
    remaining = sorted(files, key=lambda f: f.path)
    groups = _sidecar_groups(remaining)
    claimed = {p for g in groups for p in g.paths}
    shots = _shots([f for f in remaining if f.path not in claimed])
    groups.extend(_sequence_groups(shots, gap_seconds))
    return sorted(groups, key=lambda g: g.paths[0])


def _sidecar_groups(files: Sequence[GroupFile]) -> list[Group]:
    folders = sorted(
        {
            str(PurePosixPath(f.path).parent)
            for f in files
            if PurePosixPath(f.path).name == SIDECAR_NAME
        },
        key=lambda p: (len(PurePosixPath(p).parts), p),
    )
    groups: list[Group] = []
    claimed: set[str] = set()
    for folder in folders:
        base = PurePosixPath(folder)
        members = [
            f.path
            for f in files
            if f.path not in claimed and PurePosixPath(f.path).is_relative_to(base)
        ]
        if not members:  # inside a folder already taken
            continue
        claimed.update(members)
        names = tuple(str(PurePosixPath(p).relative_to(base)) for p in members)
        name = base.name or "capture"
        groups.append(
            Group(name, tuple(members), names, True, f"grouped by {folder}/{SIDECAR_NAME}")
        )
    return groups


def _shots(files: Sequence[GroupFile]) -> list[list[GroupFile]]:
    """Files with the same folder and stem, ordered by folder, number, time and name."""
    by_stem: dict[tuple[str, str], list[GroupFile]] = {}
    for f in files:
        p = PurePosixPath(f.path)
        by_stem.setdefault((str(p.parent), p.stem), []).append(f)

    def order(shot: list[GroupFile]) -> tuple[str, int, float, str]:
        first = shot[0]
        number = sequence_number(first.path)
        return (
            str(PurePosixPath(first.path).parent),
            -1 if number is None else number,
            min(f.taken_at for f in shot),
            first.path,
        )

    return sorted(by_stem.values(), key=order)


def _is_equirect(shot: Sequence[GroupFile]) -> bool:
    return any(
        f.aspect is not None and is_equirect_aspect(f.aspect, 1.0) for f in shot
    )


def _sequence_groups(shots: list[list[GroupFile]], gap_seconds: float) -> list[Group]:
    runs: list[tuple[list[list[GroupFile]], str]] = []
    previous: list[GroupFile] | None = None
    for shot in shots:
        reason = _why_apart(previous, shot, gap_seconds)
        if reason is None and runs:
            runs[-1][0].append(shot)
        else:
            runs.append(([shot], reason or "first file"))
        previous = shot
    ends = [reason for _, reason in runs[1:]] + ["last file"] if runs else []
    return [
        _run_group(run, _why_alone(run[0]) or f"{start}; next: {end}", gap_seconds)
        for (run, start), end in zip(runs, ends, strict=True)
    ]


def _why_alone(shot: list[GroupFile]) -> str | None:
    """Why a shot is a capture by itself whatever its neighbours are, if it is."""
    if _is_equirect(shot):
        return "an equirect (2:1) is a capture by itself"
    if sequence_number(shot[0].path) is None:
        return "no camera sequence number"
    return None


def _why_apart(
    previous: list[GroupFile] | None, shot: list[GroupFile], gap_seconds: float
) -> str | None:
    """Why ``shot`` starts a new capture after ``previous``; None when it joins it."""
    if previous is None:
        return "first file"
    if _is_equirect(shot) or _is_equirect(previous):
        return "an equirect (2:1) is a capture by itself"
    here, before = PurePosixPath(shot[0].path), PurePosixPath(previous[0].path)
    if here.parent != before.parent:
        return "another folder"
    number, last = sequence_number(here.name), sequence_number(before.name)
    if number is None or last is None:
        return "no camera sequence number"
    if number - last not in (0, 1):
        return f"number {number} does not follow {last}"
    gap = min(f.taken_at for f in shot) - max(f.taken_at for f in previous)
    if gap > gap_seconds:
        return f"taken {gap:.0f} s after the previous file (limit {gap_seconds:g} s)"
    return None


def _run_group(run: list[list[GroupFile]], reason: str, gap_seconds: float) -> Group:
    files = [f for shot in run for f in sorted(shot, key=lambda f: f.path)]
    paths = tuple(f.path for f in files)
    names = tuple(PurePosixPath(p).name for p in paths)
    first = PurePosixPath(paths[0])
    if len(run) == 1 and len(files) == 1:
        return Group(first.name, paths, names, False, f"single file ({reason})")
    if len(run) == 1:
        return Group(first.stem, paths, names, True, f"same-stem files of one shot {first.stem}")
    numbers = [sequence_number(p) for p in paths]
    times = [min(f.taken_at for f in shot) for shot in run]
    widest = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
    rule = (
        f"grouped by camera sequence and time gap: {len(run)} shots numbered "
        f"{min(n for n in numbers if n is not None)}-{max(n for n in numbers if n is not None)} "
        f"in {first.parent}, at most {widest:.1f} s apart (limit {gap_seconds:g} s)"
    )
    return Group(first.stem, paths, names, True, rule)
