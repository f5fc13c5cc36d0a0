"""Capture sources: local folders, network shares, USB cards and PTP cameras.

Each finds captures and hands them to the intake callback; polled sources first copy every
file into panodock's spool with proof (:mod:`ingest.sources.spool`).
"""

from ingest.sources.base import PolledSource, Source, SourceHealth, SourceOffline
from ingest.sources.grouping import Group, GroupFile, group_files
from ingest.sources.local import LocalSource
from ingest.sources.share import ShareSource
from ingest.sources.usb import Mount, UsbSource, parse_mountinfo

__all__ = [
    "Group",
    "GroupFile",
    "LocalSource",
    "Mount",
    "PolledSource",
    "ShareSource",
    "Source",
    "SourceHealth",
    "SourceOffline",
    "UsbSource",
    "group_files",
    "parse_mountinfo",
]
