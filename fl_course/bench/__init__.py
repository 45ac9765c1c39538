"""Benchmarks that print their figures as one JSON object: ``python -m fl_course.bench NAME``."""
