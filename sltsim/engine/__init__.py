"""The NumPy/Numba reference engine: ops with hand-written backprop, supermask layers,
top-k selection, SGD and schedules."""
