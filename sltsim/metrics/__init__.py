"""Metrics of a search: the mask history (dying edges) and planted-target recovery."""
