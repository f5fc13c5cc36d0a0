"""Orchestration around the pure packages: one folder per role (see ARCHITECTURE.md)."""
