"""Reading what arrives, from the inbox to the ledger.

- **Finding captures**: :mod:`ingest.watcher` watches the inbox folder with inotify and
  periodic rescans; :mod:`ingest.candidates` holds the inbox rules (what a capture is, when
  it is complete, which names are ignored). :mod:`ingest.sources` adds the other places
  captures come from (network shares, USB cards, PTP cameras), copying their files into
  the spool first; every one of them hands over a :class:`~ingest.candidates.Candidate`,
  which names files on this machine.
- **Taking a capture in**: :mod:`ingest.intake` hashes a candidate's files, archives them
  under ``raw/`` in the object store, records the capture in the ledger and queues it.
  These modules work with paths, folders and the store.
- **Reading a capture's content**: :mod:`ingest.image` (header probe, checked decode),
  :mod:`ingest.metadata` and :mod:`ingest.gpano` (EXIF, XMP GPano) and
  :mod:`ingest.sidecar` (``capture.json``) take a file's bytes, never a path (the worker
  reads originals from the object store), and report a bad input as a
  :class:`~config.errors.QuarantineError` whose message a field technician can act on.
"""
