"""Nearest-neighbour search over photo embeddings (numpy only)."""
