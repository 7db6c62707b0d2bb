"""Benchmarks: each prints its figures as a few lines and one final JSON line (see README.md)."""
