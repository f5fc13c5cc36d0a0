"""Documents on the map: PDFs and images attached to a point of interest or a scene.

Two ways in: a capture's sidecar names files of its folder (``attachments: [{file, title}]``
on a point or on the scene; the intake archived them as originals, ``raw/<sha256>/<name>``),
or ``panodock poi attach SITE ID FILE --title ...`` adds one later (archived the same way).
Either way the published copy is ``sites/<site>/attachments/<sha256>/<name>``
(:func:`workers.contract.keys.attachment_key`): under the site's prefix, so it is exactly as
private as the site's tour and plans, and the share gateway serves it to a share of the site.

Only PDF and common image types pass (recognised by their first bytes, not by their name),
up to :data:`MAX_ATTACHMENT_BYTES`; anything else is refused with a reason (a hand-added
file: the command fails; a sidecar's: the scene's ``attachment_notes`` says why).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Final

from config.errors import ConfigError, ObjectNotFound
from ingest.sidecar import AttachmentRef
from workers.contract.keys import attachment_key, raw_key
from workers.contract.scene import SourceFile
from workers.contract.site import Attachment
from workers.contract.tour import TourEntry
from workers.store.base import ObjectStore

log = logging.getLogger(__name__)

#: Largest attachment, bytes (a scanned evacuation plan is a few MB).
MAX_ATTACHMENT_BYTES: Final = 25_000_000
_MAGIC: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class AttachmentRefused(ConfigError):
    """A file that may not be attached (its type or size); the message says why."""


def content_type(name: str, data: bytes, *, max_bytes: int = MAX_ATTACHMENT_BYTES) -> str:
    """The content type of an acceptable attachment, from its first bytes.

    Raises
    ------
    AttachmentRefused
        Empty, larger than ``max_bytes``, or not a PDF, JPEG, PNG, GIF or WebP.
    """
    if not data:
        raise AttachmentRefused(f"attachment {name!r} is empty")
    if len(data) > max_bytes:
        raise AttachmentRefused(
            f"attachment {name!r} is {len(data) / 1e6:.1f} MB, above the "
            f"{max_bytes / 1e6:.0f} MB limit; scan it at a lower resolution"
        )
    kind = sniffed_type(data)
    if kind != "application/octet-stream":
        return kind
    raise AttachmentRefused(
        f"attachment {name!r} is not a PDF or an image (JPEG, PNG, GIF, WebP); only those "
        "can be opened by every responder's reader"
    )


def sniffed_type(data: bytes) -> str:
    """The content type an accepted attachment's first bytes say; octet-stream otherwise."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def store_attachment(
    store: ObjectStore, site: str, name: str, data: bytes, title: str
) -> Attachment:
    """Archive a file like an original and publish its copy; returns its record.

    Raises
    ------
    AttachmentRefused
        See :func:`content_type`.
    """
    if not name or name.startswith(".") or any(c in name for c in "/\\") or not name.isprintable():
        raise AttachmentRefused(f"attachment name {name!r} is not a plain file name")
    kind = content_type(name, data)
    digest = hashlib.sha256(data).hexdigest()
    original = raw_key(digest, name)
    if not store.exists(original):
        store.put(original, data, content_type=kind)
    key = attachment_key(site, digest, name)
    store.put(key, data, content_type=kind)
    return Attachment(
        title=title, name=name, sha256=digest, key=key, original=original,
        content_type=kind, size=len(data),
    )  # fmt: skip


def resolve_refs(
    site: str, refs: Sequence[AttachmentRef], sources: Sequence[SourceFile]
) -> tuple[list[Attachment], list[str]]:
    """A sidecar's attachment references against the capture's archived files (pure).

    Returns the records (type and size still to be checked when published) and notes for
    the references that name no file of the capture.
    """
    by_name = {s.name: s for s in sources}
    found, notes = [], []
    for ref in refs:
        source = by_name.get(ref.file)
        if source is None:
            notes.append(f"attachment {ref.file!r} ({ref.title}) is not a file of the capture")
            continue
        found.append(
            Attachment(
                title=ref.title,
                name=ref.file.rsplit("/", 1)[-1],
                sha256=source.sha256,
                key=attachment_key(site, source.sha256, ref.file.rsplit("/", 1)[-1]),
                original=source.key,
                content_type="application/octet-stream",
                size=0,
            )  # fmt: skip
        )
    return found, notes


def publish_entry_attachments(store: ObjectStore, entry: TourEntry) -> TourEntry:
    """Copy a new entry's sidecar attachments to their published keys, checking each.

    Refused or missing ones are dropped from the entry and named in ``attachment_notes``.
    """
    notes = list(entry.attachment_notes)

    def publish(items: list[Attachment]) -> list[Attachment]:
        kept = []
        for item in items:
            try:
                data = store.get(item.original)
                kind = content_type(item.name, data)
            except ObjectNotFound:
                notes.append(f"attachment {item.name!r}: its original is not archived")
                continue
            except AttachmentRefused as exc:
                notes.append(str(exc))
                log.warning("scene %s: %s", entry.scene, exc)
                continue
            if not store.exists(item.key):
                store.put(item.key, data, content_type=kind)
            kept.append(item.model_copy(update={"content_type": kind, "size": len(data)}))
        return kept

    pois = [
        p.model_copy(update={"attachments": publish(p.attachments)}) if p.attachments else p
        for p in entry.points_of_interest
    ]
    return entry.model_copy(
        update={
            "attachments": publish(entry.attachments),
            "points_of_interest": pois,
            "attachment_notes": notes,
        }
    )
