"""``panodock poi add|list|move|remove`` and ``panodock site verify``, against a local store."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.sites.conftest import SITE, gcp_args, run_cli
from workers.cli.poi import PoiCommands, run_poi_command
from workers.contract.keys import tour_key
from workers.contract.tour import Tour
from workers.ops.status import floors_to_verify
from workers.sites.registry import load_site
from workers.sites.verify import floors_due
from workers.store.local import LocalStore


def _poi(store: LocalStore, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="panodock")
    PoiCommands().register(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = run_poi_command(parser.parse_args(["poi", *argv]), store, out=out)
    return code, out.getvalue()


def _setup(tmp_path: Path, plan_file: Path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    code, out = run_cli(
        store, "site", "add-floor", SITE, "1", "--plan", str(plan_file), "--scale", "20",
        "--north", "0", "--grid-m", "5", *gcp_args(0.0, seed=3),
    )  # fmt: skip
    assert code == 0, out
    return store


def test_add_list_move_remove(tmp_path: Path, plan_file: Path) -> None:
    store = _setup(tmp_path, plan_file)
    code, out = _poi(store, "add", SITE, "--floor", "1", "--plan", "300", "200",
                     "--kind", "aed", "--label", "AED 2", "--number", "2")  # fmt: skip
    assert code == 0, out
    assert "aed-2 added: (300, 200) on main/1, cell D3 [manual]" in out  # 5 m cells = 100 px
    code, out = _poi(store, "add", SITE, "--floor", "main/1", "--plan", "10", "10",
                     "--kind", "trampoline")  # fmt: skip
    assert code == 0 and "warning: kind 'trampoline' is not in the" in out
    tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    assert [(p.id, p.catalogue_kind) for p in tour.pois] == [
        ("aed-2", "aed"), ("trampoline", "other"),
    ]  # fmt: skip
    code, out = _poi(store, "move", SITE, "aed-2", "--plan", "1199", "799")
    assert code == 0 and "cell L8" in out
    code, out = _poi(store, "list", SITE)
    assert code == 0 and "aed-2" in out and "AED 2" in out and "trampoline" in out
    code, out = _poi(store, "remove", SITE, "trampoline")
    assert code == 0
    registry = load_site(store, SITE)
    assert registry is not None and [p.id for p in registry.points_of_interest] == ["aed-2"]


def test_refusals_name_the_problem(tmp_path: Path, plan_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = _setup(tmp_path, plan_file)
    assert _poi(store, "add", SITE, "--floor", "9", "--plan", "1", "1", "--kind", "aed")[0] == 1
    assert "no floor '9'" in capsys.readouterr().err
    assert _poi(store, "add", SITE, "--floor", "1", "--plan", "5000", "1", "--kind", "aed")[0] == 1
    assert "off the 1200x800 plan" in capsys.readouterr().err
    assert _poi(store, "move", SITE, "nothing", "--plan", "1", "1")[0] == 1
    assert "no point of interest 'nothing'" in capsys.readouterr().err
    assert _poi(store, "remove", SITE, "nothing")[0] == 1


def test_verify_is_recorded_shown_and_ages(tmp_path: Path, plan_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = _setup(tmp_path, plan_file)
    registry = load_site(store, SITE)
    assert registry is not None
    assert [d.reason for d in floors_due(registry, None)] == ["never verified"]
    assert floors_to_verify(store, [SITE, "no-such-site"]) == [
        {"site": SITE, "floor": "main/1", "reason": "never verified", "last_verified": None,
         "by": None},
    ]  # fmt: skip
    code, out = run_cli(store, "site", "verify", SITE, "--floor", "1", "--by", "J. Ortiz",
                        "--date", "2026-03-01", "--note", "door 4 renumbered")  # fmt: skip
    assert code == 0 and "Last verified 2026-03-01 by J. Ortiz (door 4 renumbered)" in out
    code, out = run_cli(store, "site", "show", SITE)
    assert "Last verified 2026-03-01 by J. Ortiz" in out
    future = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    code, _ = run_cli(store, "site", "verify", SITE, "--floor", "1", "--by", "X", "--date", future)
    assert code == 1 and "is in the future" in capsys.readouterr().err
    tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    assert tour.floors[0].verified is not None and tour.floors[0].verified.by == "J. Ortiz"
    registry = load_site(store, SITE)
    assert registry is not None
    assert floors_due(registry, tour, today=date(2026, 12, 1)) == []
    (late,) = floors_due(registry, tour, today=date(2027, 3, 5))
    assert late.reason == "last verified 369 days ago"
    # A scene published after the walkthrough makes the floor due again.
    from tests.sites.test_poi import _entry

    scene = _entry("a", 10, 10, 0.0, []).model_copy(
        update={"published_at": datetime(2026, 4, 2, tzinfo=UTC)}
    )
    changed = tour.model_copy(update={"scenes": [*tour.scenes, _as_scene(scene)]})
    (due,) = floors_due(registry, changed, today=date(2026, 5, 1))
    assert "scenes changed on 2026-04-02, after the walkthrough of 2026-03-01" == due.reason


def _as_scene(entry):  # type: ignore[no-untyped-def]
    from workers.contract.tour import TourScene

    return TourScene(**entry.model_dump(), position=entry.placement)


def test_attach_archives_publishes_and_refuses(tmp_path: Path, plan_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    store = _setup(tmp_path, plan_file)
    assert _poi(store, "add", SITE, "--floor", "1", "--plan", "300", "200", "--kind", "aed",
                "--label", "AED 2")[0] == 0  # fmt: skip
    doc = tmp_path / "aed manual.pdf"
    doc.write_bytes(b"%PDF-1.4\n% a tiny pdf\n%%EOF\n")
    code, out = _poi(store, "attach", SITE, "aed-2", str(doc), "--title", "AED manual")
    assert code == 0, out
    sha = hashlib.sha256(doc.read_bytes()).hexdigest()
    assert store.get(f"raw/{sha}/aed manual.pdf") == doc.read_bytes(), "archived like an original"
    assert store.exists(f"sites/{SITE}/attachments/{sha}/aed manual.pdf")
    tour = Tour.model_validate_json(store.get(tour_key(SITE)))
    (poi,) = tour.pois
    assert [(a.title, a.content_type, a.size) for a in poi.attachments] == [
        ("AED manual", "application/pdf", len(doc.read_bytes())),
    ]  # fmt: skip
    for name, data, reason in [
        ("macro.docm", b"PK\x03\x04...", "not a PDF or an image"),
        ("empty.pdf", b"", "is empty"),
        ("huge.pdf", b"%PDF-" + b"0" * (26 * 1024 * 1024), "above the 25 MB limit"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        assert _poi(store, "attach", SITE, "aed-2", str(path), "--title", "x")[0] == 1
        assert reason in capsys.readouterr().err
    assert _poi(store, "attach", SITE, "nope", str(doc), "--title", "x")[0] == 1
    assert "no point of interest 'nope'" in capsys.readouterr().err


def test_a_scene_published_later_the_same_day_makes_the_floor_due(
    tmp_path: Path, plan_file: Path
) -> None:
    from tests.sites.test_poi import _entry
    from workers.contract.site import Verification

    store = _setup(tmp_path, plan_file)
    registry = load_site(store, SITE)
    assert registry is not None
    walk = Verification(floor="main/1", by="J. Ortiz", date=date(2026, 3, 1),
                        recorded_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # fmt: skip
    registry = registry.model_copy(update={"verifications": [walk]})
    tour = Tour(site=SITE, updated_at=datetime(2026, 3, 1, tzinfo=UTC))

    def due_with_scene_at(at: datetime) -> list[str]:
        scene = _as_scene(_entry("a", 10, 10, 0.0, []).model_copy(update={"published_at": at}))
        changed = tour.model_copy(update={"scenes": [scene]})
        return [d.reason for d in floors_due(registry, changed, today=date(2026, 3, 2))]

    assert due_with_scene_at(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) == []
    assert due_with_scene_at(datetime(2026, 3, 1, 15, 0, tzinfo=UTC)) == [
        "scenes changed on 2026-03-01, after the walkthrough of 2026-03-01"
    ]
