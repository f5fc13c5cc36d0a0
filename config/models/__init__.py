"""The face-detection model file (package data; see :mod:`config.data`)."""
