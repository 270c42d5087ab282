"""The monitoring files in deploy/ fit the service: the dashboard asks only for metrics it
exports, Prometheus scrapes /metrics, and the compose profile mounts files that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.observability.metrics import exposition

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def exported_families() -> set[str]:
    return {family.name for family in text_string_to_metric_families(exposition().decode())}


def test_every_dashboard_query_uses_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/reme.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum|total)$", "", name)
        for q in queries
        for name in re.findall(r"reme_\w+", q)
    }

    assert used, "the dashboard has no queries"
    assert used <= exported_families(), used - exported_families()


def test_prometheus_scrapes_the_service_metrics_path() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())

    [job] = [job for job in config["scrape_configs"] if job["job_name"] == "reme"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["app:8002"]


def test_the_monitoring_profile_starts_prometheus_and_grafana_with_the_repo_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    for name in ("prometheus", "grafana"):
        service = compose["services"][name]
        assert service["profiles"] == ["monitoring"]
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            assert (ROOT / source).exists(), source
    assert "profiles" not in compose["services"]["app"]
