"""Policies of the stack: plain rule functions (rules.py) and the CrossGuard pack that runs them (__main__.py)."""
