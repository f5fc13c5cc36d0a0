"""The status service: JSON API, ops console and scene pages, pinned viewer assets."""
