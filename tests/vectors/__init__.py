"""Golden vectors: captured and constructed frames with their provenance (see c3.py)."""
