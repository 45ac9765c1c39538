"""Experiments that put attacks and defenses together (the labs' and benchmarks' measurements)."""
