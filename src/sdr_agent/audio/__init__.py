"""Audio primitives shared by engines and the voice pipeline (no I/O)."""
