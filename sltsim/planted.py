"""Planted targets (placeholder until the planted-target issue lands)."""

PLANTS = {"subnetwork": None, "neuron": None}
