"""Benchmarks side by side with ReMe 0.1.7: see benchmarks/README.md."""
