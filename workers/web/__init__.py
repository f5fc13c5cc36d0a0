"""The web side of the status service: the ops console, the scene page and their viewers."""
