from __future__ import annotations

import random

from ingest.sources.grouping import GroupFile, group_files, sequence_number


def shots(
    folder: str, numbers: range, start: float, step: float, aspect: float = 1.5
) -> list[GroupFile]:
    return [
        GroupFile(f"{folder}/IMG_{n:04d}.JPG", start + i * step, aspect)
        for i, n in enumerate(numbers)
    ]


def test_a_tripod_set_is_one_capture_and_the_next_room_another() -> None:
    room1 = shots("DCIM/100CANON", range(1, 13), 1000.0, 3.0)
    room2 = shots("DCIM/100CANON", range(13, 25), 1000.0 + 11 * 3 + 300, 3.0)
    groups = group_files(random.Random(1).sample(room1 + room2, 24), gap_seconds=10)
    assert [g.paths for g in groups] == [
        tuple(f.path for f in room1),
        tuple(f.path for f in room2),
    ]
    assert all(g.is_folder and "camera sequence and time gap" in g.rule for g in groups)
    assert "numbered 1-12" in groups[0].rule and "limit 10 s" in groups[0].rule
    assert groups[0].name == "IMG_0001"


def test_a_gap_in_the_numbers_splits_even_when_close_in_time() -> None:
    files = shots("D", range(1, 4), 0.0, 1.0) + shots("D", range(7, 9), 3.0, 1.0)
    groups = group_files(files, gap_seconds=10)
    assert [len(g.paths) for g in groups] == [3, 2]
    assert [f.path for f in files[3:]] == list(groups[1].paths)


def test_equirects_shot_seconds_apart_are_one_capture_each() -> None:
    files = shots("DCIM/100RICOH", range(1, 4), 0.0, 5.0, aspect=2.0)
    groups = group_files(files, gap_seconds=10)
    assert [g.paths for g in groups] == [(f.path,) for f in files]
    assert not any(g.is_folder for g in groups)
    assert "equirect" in groups[1].rule


def test_raw_and_jpeg_of_one_shot_stay_together_and_brackets_join_their_set() -> None:
    files = [
        GroupFile("D/DSC_0001.JPG", 0.0, 1.5),
        GroupFile("D/DSC_0001.NEF", 0.0, None),
        GroupFile("D/DSC_0002.JPG", 0.4, 1.5),  # a bracket of the same position
        GroupFile("D/DSC_0003.JPG", 0.8, 1.5),
        GroupFile("D/notes.txt", 1.0, None),  # no number: alone
    ]
    groups = group_files(files, gap_seconds=2)
    assert [set(g.paths) for g in groups] == [
        {"D/DSC_0001.JPG", "D/DSC_0001.NEF", "D/DSC_0002.JPG", "D/DSC_0003.JPG"},
        {"D/notes.txt"},
    ]
    assert "no camera sequence number" in groups[1].rule


def test_a_folder_with_a_sidecar_is_one_capture_with_relative_names() -> None:
    files = [
        GroupFile("DCIM/room12/capture.json", 9.0, None),
        GroupFile("DCIM/room12/lens/a_001.jpg", 0.0, 1.0),
        GroupFile("DCIM/room12/lens/b_001.jpg", 0.0, 1.0),
        GroupFile("DCIM/IMG_0001.JPG", 500.0, 2.0),
    ]
    groups = group_files(files, gap_seconds=10)
    by_name = {g.name: g for g in groups}
    assert set(by_name) == {"room12", "IMG_0001.JPG"}
    assert sorted(by_name["room12"].names) == ["capture.json", "lens/a_001.jpg", "lens/b_001.jpg"]
    assert by_name["room12"].rule == "grouped by DCIM/room12/capture.json"


def test_every_file_lands_in_exactly_one_group() -> None:
    rng = random.Random(7)
    files = [
        GroupFile(
            f"DCIM/{rng.choice(['100A', '101A'])}/IMG_{rng.randrange(60):04d}."
            f"{rng.choice(['JPG', 'DNG'])}",
            rng.uniform(0, 600),
            rng.choice([None, 1.5, 2.0]),
        )
        for _ in range(300)
    ]
    unique = list({f.path: f for f in files}.values())
    groups = group_files(unique, gap_seconds=20)
    paths = [p for g in groups for p in g.paths]
    assert sorted(paths) == sorted(f.path for f in unique)
    assert all(len(g.paths) == len(g.names) for g in groups)


def test_sequence_number_is_the_stems_trailing_digits() -> None:
    assert sequence_number("DCIM/100RICOH/R0010042.JPG") == 10042
    assert sequence_number("IMG_0042.dng") == 42
    assert sequence_number("pano.jpg") is None
