"""Helpers for the capture-source tests: the real intake on real Redis, a clock the test
moves, and tmpfs mounts (the tests run as root; a refused mount is a failure, not a skip)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ingest.candidates import Candidate
from tests.support.pipeline import Harness
from workers.state.ledger import State


@dataclass
class Intake:
    """The real intake, counting every candidate it was handed."""

    harness: Harness
    candidates: list[Candidate] = field(default_factory=list)
    fail_next: int = 0

    def __call__(self, candidate: Candidate) -> str:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("redis went away")  # an infrastructure error mid-delivery
        self.candidates.append(candidate)
        return self.harness.ingest(candidate)

    @property
    def queued(self) -> list[str]:
        return self.harness.queued

    def captures(self) -> int:
        return sum(self.harness.app.ledger.counts().values())

    def queued_count(self) -> int:
        return self.harness.app.ledger.counts()[State.QUEUED]

    def archived_sha(self, digest: str, size: int) -> bool:
        """True when raw/<sha>/ holds an object with exactly that content."""
        store = self.harness.store
        return any(
            len(data := store.get(key)) == size and hashlib.sha256(data).hexdigest() == digest
            for key in store.list(f"raw/{digest}/")
        )


class Clock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def mount_tmpfs(point: Path, size: str = "16m") -> None:
    """Mount a tmpfs of ``size`` at ``point`` (created if missing), e.g. a USB card or a share."""
    point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], check=True)


def umount(point: Path, *, lazy: bool = False) -> None:
    """Unmount ``point``; ``lazy`` detaches it even while files on it are open."""
    subprocess.run(["umount", *(["-l"] if lazy else []), str(point)], check=True)


def sha(data: bytes) -> str:
    """The hex sha256 of ``data``, as the ledger records it."""
    return hashlib.sha256(data).hexdigest()
