"""Who may read what: share links, API keys with roles, console sessions, the audit log.

Every secret (a share token, an API key, a session id) is random, shown once and stored
only as its SHA-256 in Redis, so every serving process sees a revocation at once.
:mod:`~workers.access.tokens` makes and hashes them; :mod:`~workers.access.shares`,
:mod:`~workers.access.apikeys` and :mod:`~workers.access.sessions` keep the records;
:mod:`~workers.access.audit` is the append-only log of reads and actions.
"""
