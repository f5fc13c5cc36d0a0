"""Settings and the exception tree shared by every panodock package."""

from config.errors import CaptureError, InfrastructureError, PanodockError, QuarantineError
from config.settings import Settings, load_settings

__all__ = [
    "CaptureError",
    "InfrastructureError",
    "PanodockError",
    "QuarantineError",
    "Settings",
    "load_settings",
]
