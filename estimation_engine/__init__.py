"""The estimation engine: the HTTP service that serves the pinned model with calibrated price ranges."""
