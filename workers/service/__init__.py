"""Processes: a worker, the watcher, and ``panodock run`` with its private Redis."""
