"""Text in the published viewer configs is inert: raw under Pannellum's escapeHTML, else escaped."""

from __future__ import annotations

from tests.sites.test_tour import _entry, _tour
from workers.contract.keys import SceneKeys
from workers.contract.scene import TileLevel, TileSet
from workers.contract.tour import LinkRequest, TourPoi
from workers.contract.viewers import viewer_configs

PAYLOAD = '"><img src=x onerror=alert(1)>'
ESCAPED = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"


def test_every_text_field_is_raw_for_pannellum_and_escaped_for_the_others() -> None:
    poi = TourPoi(kind=PAYLOAD, label=PAYLOAD, yaw_deg=10, pitch_deg=0)
    a = _entry("a", (100, 100), pois=[poi], links=[LinkRequest(to="b", label=PAYLOAD)])
    b = _entry("b", (200, 100))
    tour = _tour(a.model_copy(update={"title": PAYLOAD}), b)
    # The document's own fields keep the raw text for text consumers.
    assert tour.scenes[0].title == PAYLOAD and tour.points_of_interest[0].label == PAYLOAD
    pannellum = tour.viewers["pannellum"]
    assert pannellum["escapeHTML"] is True  # top level: inside a scene Pannellum ignores it
    scene = pannellum["scenes"]["a"]
    assert scene["title"] == PAYLOAD and "escapeHTML" not in scene
    assert {h["text"] for h in scene["hotSpots"]} == {PAYLOAD}
    marzipano = {s["id"]: s for s in tour.viewers["marzipano"]["scenes"]}
    assert marzipano["a"]["name"] == ESCAPED
    (info,) = marzipano["a"]["infoHotspots"]
    assert (info["title"], info["text"]) == (ESCAPED, ESCAPED)
    nodes = {n["id"]: n for n in tour.viewers["photo_sphere_viewer"]["nodes"]}
    assert nodes["a"]["name"] == ESCAPED
    assert nodes["a"]["markers"][0]["tooltip"] == ESCAPED
    assert nodes["a"]["markers"][0]["data"] == {"kind": PAYLOAD}  # data is never rendered


def test_a_scene_config_turns_pannellum_escaping_on_at_its_top_level() -> None:
    keys = SceneKeys(site="s", scene="a", version="v1")
    levels = [TileLevel(z=1, size=512, tiles=1)]
    tiles = TileSet(tile_size=512, face_size=512, faces=list("bdflru"), levels=levels, count=6)
    assert viewer_configs(keys, tiles, 0.0)["pannellum"]["escapeHTML"] is True
