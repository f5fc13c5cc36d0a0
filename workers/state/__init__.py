"""The durable capture ledger in Redis: states, files, history."""
