"""The catalogue of point-of-interest kinds for school safety maps, each with its map symbol.

What US school-mapping laws and bills ask a campus map to show (BRIEF.md, "What first
responders need"): exterior doors and stairwells with their numbers, rooms, hallways,
access points, AEDs, trauma kits, extinguishers, key boxes, utility shut-offs, hazards,
panic buttons, assembly areas, first-aid rooms. A symbol is a shape, a fill colour and a
short code printed inside it (so a black-and-white print still tells them apart); the PDF
map, the offline bundle and the GeoJSON's ``marker-*`` hints all draw from this table.

A kind a sidecar writes that is not here is kept as written and shown as :data:`OTHER`
with a warning (:func:`resolve_kind`); it is never dropped. Aliases map the words capture
apps already use (``exit``, ``stairs``) onto the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Shape = Literal["circle", "square", "triangle", "diamond", "hexagon"]


@dataclass(frozen=True, slots=True)
class PoiKind:
    """One kind of point of interest and how a map draws it."""

    id: str
    title: str
    code: str
    shape: Shape
    colour: str
    numbered: bool = False
    group: str = "safety"


#: Every kind, in the order a legend lists them.
KINDS: Final[tuple[PoiKind, ...]] = (
    PoiKind("exterior_door", "Exterior door", "D", "square", "#1f5fbf", True, "access"),
    PoiKind("stairwell", "Stairwell", "S", "square", "#5b3fa6", True, "access"),
    PoiKind("room", "Room", "R", "square", "#4d4d4d", True, "layout"),
    PoiKind("hallway", "Hallway", "H", "square", "#7a7a7a", False, "layout"),
    PoiKind("access_control", "Access-control point", "AC", "diamond", "#1f7f9f", True, "access"),
    PoiKind("aed", "AED", "AED", "circle", "#2e9e3e", True, "medical"),
    PoiKind("trauma_kit", "Trauma / bleed kit", "TK", "circle", "#c0262d", True, "medical"),
    PoiKind("first_aid_room", "First-aid room", "+", "circle", "#2e9e3e", False, "medical"),
    PoiKind("fire_extinguisher", "Fire extinguisher", "FE", "circle", "#d9391e", True, "fire"),
    PoiKind("key_box", "Key box", "K", "hexagon", "#b58900", True, "access"),
    PoiKind("shutoff_gas", "Gas shut-off", "G", "triangle", "#e0a800", False, "utility"),
    PoiKind("shutoff_water", "Water shut-off", "W", "triangle", "#1c7ed6", False, "utility"),
    PoiKind("shutoff_electric", "Electric shut-off", "E", "triangle", "#f08c00", False, "utility"),
    PoiKind("shutoff_hvac", "HVAC / BAS shut-off", "HV", "triangle", "#868e96", False, "utility"),
    PoiKind("hazard_hazmat", "Hazmat", "HZ", "diamond", "#e03131", False, "hazard"),
    PoiKind("hazard_chemical", "Chemical store", "CH", "diamond", "#c2255c", False, "hazard"),
    PoiKind("panic_button", "Panic button", "PB", "hexagon", "#c92a2a", True, "safety"),
    PoiKind("assembly_area", "Assembly / reunification area", "A", "hexagon", "#2b8a3e", True),
)

#: The kind shown for anything the catalogue does not know (the original kind is kept).
OTHER: Final = PoiKind("other", "Other", "?", "circle", "#495057", False, "other")

#: Words capture apps already use -> catalogue kind.
ALIASES: Final[dict[str, str]] = {
    "exit": "exterior_door",
    "door": "exterior_door",
    "stairs": "stairwell",
    "stair": "stairwell",
    "defibrillator": "aed",
    "bleed_kit": "trauma_kit",
    "extinguisher": "fire_extinguisher",
    "knox_box": "key_box",
    "gas_shutoff": "shutoff_gas",
    "water_shutoff": "shutoff_water",
    "electric_shutoff": "shutoff_electric",
    "hvac_shutoff": "shutoff_hvac",
    "bas_shutoff": "shutoff_hvac",
    "shut_off": "shutoff_electric",
    "hazmat": "hazard_hazmat",
    "hazard": "hazard_hazmat",
    "chemical_store": "hazard_chemical",
    "assembly": "assembly_area",
    "reunification_area": "assembly_area",
    "first_aid": "first_aid_room",
}

BY_ID: Final[dict[str, PoiKind]] = {k.id: k for k in (*KINDS, OTHER)}


def resolve_kind(kind: str) -> tuple[PoiKind, str | None]:
    """The catalogue kind of a written kind, and a warning when it is not in the catalogue.

    Matching ignores case and treats ``-`` and spaces as ``_``; aliases apply.
    """
    word = kind.strip().lower().replace("-", "_").replace(" ", "_")
    word = ALIASES.get(word, word)
    found = BY_ID.get(word)
    if found is not None and found is not OTHER:
        return found, None
    known = ", ".join(k.id for k in KINDS)
    return (
        OTHER,
        f"kind {kind!r} is not in the point-of-interest catalogue ({known}); shown as other",
    )
