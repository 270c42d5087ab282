"""Pipelines: one module per flow, steps listed in order at the top of each."""
