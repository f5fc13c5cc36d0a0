"""The dramatiq side: broker, actors, dead letters, worker presence and stage limits."""
