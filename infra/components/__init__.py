"""The components of the stack, one module each (see infra.program for how they are wired)."""
