"""What holds the model: loading the pinned version (through the local cache), the engine's state, scoring
batches, and the fast path that evaluates the fitted pipeline with the same numbers."""
