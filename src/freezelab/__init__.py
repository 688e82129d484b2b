"""freezelab: learn to freeze layers in PyTorch."""

__version__ = "0.1.0"

from .audit import audit as audit  # noqa: E402  (re-export; torch is imported only when it runs)
