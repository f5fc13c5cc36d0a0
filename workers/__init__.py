"""Orchestration: ledger, object storage, the dramatiq actors, the service and its CLI."""
