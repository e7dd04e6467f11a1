"""Training: produce a model, gate it against the pinned champion, register it, open the bump PR."""
