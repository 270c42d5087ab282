"""Settings read the environment (REME_ and ReMe's FLOW_ names); the CLI maps ReMe's options."""

from __future__ import annotations

import os

import pytest

from app.cli import apply_reme_options
from app.settings import Settings


def test_nested_settings_come_from_reme_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REME_LLM__MODEL", "m1")
    monkeypatch.setenv("REME_EMBEDDING__DIM", "256")
    monkeypatch.setenv("REME_AUTH__ENABLED", "true")

    settings = Settings(_env_file=None)

    assert settings.llm.model == "m1"
    assert settings.embedding.dim == 256
    assert settings.auth.enabled is True


def test_flow_variables_are_aliases_when_reme_ones_are_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_LLM_BASE_URL", "http://llm.local/v1")
    monkeypatch.setenv("FLOW_LLM_API_KEY", "sk-flow")
    monkeypatch.setenv("FLOW_EMBEDDING_BASE_URL", "http://emb.local/v1")

    settings = Settings(_env_file=None)

    assert settings.llm.base_url == "http://llm.local/v1"
    assert settings.llm.api_key is not None and settings.llm.api_key.get_secret_value() == "sk-flow"
    assert settings.embedding.resolved_provider == "openai"


def test_reme_variable_wins_over_flow_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_LLM_BASE_URL", "http://flow/v1")
    monkeypatch.setenv("REME_LLM__BASE_URL", "http://reme/v1")

    assert Settings(_env_file=None).llm.base_url == "http://reme/v1"


def test_defaults_need_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("REME_", "FLOW_")):
            monkeypatch.delenv(name)

    settings = Settings(_env_file=None)

    assert settings.embedded
    assert settings.embedding.resolved_provider == "local"
    assert settings.embedding.resolved_dim == 384
    assert not settings.llm.configured


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REME_LLM__API_KEY", "sk-very-secret")

    assert "sk-very-secret" not in repr(Settings(_env_file=None))


def test_reme_style_options_map_onto_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # set first so that monkeypatch restores them after the test
    monkeypatch.setenv("REME_SERVER__PORT", "1")
    monkeypatch.setenv("REME_LLM__MODEL", "before")

    backend = apply_reme_options(
        [
            "backend=http",
            "http.port=8123",
            "llm.default.model_name=qwen",
            "vector_store.default.backend=local",
        ]
    )

    assert backend == "http"
    assert os.environ["REME_SERVER__PORT"] == "8123"
    assert os.environ["REME_LLM__MODEL"] == "qwen"
    assert Settings(_env_file=None).server.port == 8123


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown backend"):
        apply_reme_options(["backend=grpc"])


def test_workers_setting_takes_a_count_or_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.http_workers import resolve_workers

    monkeypatch.setenv("REME_SERVER__WORKERS", "auto")
    assert resolve_workers(Settings(_env_file=None).server.workers) == (os.cpu_count() or 1)
    monkeypatch.setenv("REME_SERVER__WORKERS", "3")
    assert resolve_workers(Settings(_env_file=None).server.workers) == 3
    monkeypatch.setenv("REME_SERVER__WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        Settings(_env_file=None)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_serve_refuses_a_bad_worker_count(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--workers", value])

    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_serve_accepts_auto_workers() -> None:
    from app.cli import build_parser

    args = build_parser().parse_args(["serve", "--workers", "auto"])

    assert args.workers == (os.cpu_count() or 1)
