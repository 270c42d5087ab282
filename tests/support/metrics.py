"""Reading /metrics the way Prometheus does: parsed samples, looked up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Samples:
    rows: list[tuple[str, dict[str, str], float]]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
        return sum(
            value
            for sample, sample_labels, value in self.rows
            if sample == name and all(sample_labels.get(k) == v for k, v in labels.items())
        )

    def labels_of(self, name: str, label: str) -> set[str]:
        return {sample_labels[label] for sample, sample_labels, _ in self.rows if sample == name}


def parse(text: str) -> Samples:
    rows = [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
    return Samples(rows)


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)
