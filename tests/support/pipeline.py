"""Builders shared by the pipeline tests: captures on disk and a pipeline on real Redis."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from ingest.candidates import Candidate
from ingest.intake import Intake
from workers.contract.keys import SceneKeys, current_key
from workers.contract.scene import CurrentPointer, SceneManifest
from workers.queue.actors import App
from workers.state.ledger import State
from workers.store.factory import make_store
from workers.store.local import LocalStore


def file_candidate(path: Path) -> Candidate:
    return Candidate(root=path, files=(path,), is_folder=False)


def folder_candidate(folder: Path) -> Candidate:
    files = tuple(sorted(p for p in folder.rglob("*") if p.is_file()))
    return Candidate(root=folder, files=files, is_folder=True)


def write_folder(folder: Path, files: dict[str, bytes], sidecar: dict | bytes) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    body = sidecar if isinstance(sidecar, bytes) else json.dumps(sidecar).encode()
    (folder / "capture.json").write_bytes(body)
    return folder


def with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF header claims another size (a decompression bomb's header)."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = jpeg.find(marker)
        if at >= 0:
            # SOF: marker, length (2), precision (1), height (2), width (2)
            return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]
    raise AssertionError("no SOF marker")


@dataclass
class Harness:
    """Intake + the actor body, run in this process against real Redis and a local store."""

    settings: Settings
    app: App = field(init=False)
    store: LocalStore = field(init=False)
    intake: Intake = field(init=False)
    queued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = make_store(self.settings)
        self.app = App(self.settings, self.settings.redis_url or "", store=self.store)
        self.intake = Intake(
            store=self.store,
            ledger=self.app.ledger,
            enqueue=self.queued.append,
            default_site=self.settings.default_site,
            max_file_bytes=self.settings.max_file_bytes,
        )

    def ingest(self, candidate: Candidate) -> str:
        return self.intake(candidate)

    def live(self, site: str, scene: str) -> tuple[CurrentPointer, SceneManifest]:
        """The live pointer of a scene and the manifest it points at."""
        pointer = CurrentPointer.model_validate_json(self.store.get(current_key(site, scene)))
        return pointer, SceneManifest.model_validate_json(self.store.get(pointer.manifest))

    def published(self, capture_id: str) -> tuple[SceneKeys, SceneManifest]:
        """Keys and manifest of the live version of a capture that must be published."""
        capture = self.app.ledger.get(capture_id)
        assert capture.state == State.PUBLISHED, capture.reason
        pointer, manifest = self.live(capture.site, capture.scene)
        return SceneKeys(capture.site, capture.scene, pointer.version), manifest

    def drain(self) -> None:
        """Run every queued job the way a worker would (classification included)."""
        while self.queued:
            self.app._process_capture(self.queued.pop(0))


XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def with_xmp(jpeg: bytes, xml: bytes) -> bytes:
    """The JPEG with an XMP APP1 segment right after SOI."""
    payload = XMP_HEADER + xml
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def gpano_xmp(**fields: object) -> bytes:
    """An XMP packet with GPano fields as attributes (e.g. PosePitchDegrees=5)."""
    attrs = " ".join(f'GPano:{k}="{v}"' for k, v in fields.items())
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:GPano="http://ns.google.com/photos/1.0/panorama/">'
        f'<rdf:Description rdf:about="" {attrs}/></rdf:RDF></x:xmpmeta>'
    ).encode()
