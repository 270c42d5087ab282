"""HTTP routes: ReMe-compatible flows, the /v1 REST API and health checks."""
