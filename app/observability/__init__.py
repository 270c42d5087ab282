"""Observability: Prometheus metrics, OpenTelemetry spans and the database hooks that feed both.

Nothing here imports the rest of the service: routes, pipelines, providers and the data layer
call into it, never the reverse.
"""
