"""The estimation engine: the HTTP service that serves the pinned model with calibrated price ranges."""

__version__ = "0.1.0"
