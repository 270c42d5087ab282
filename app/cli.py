"""The ``reme`` command line.

Subcommands (``reme serve``, ``reme db backup FILE`` ...) and ReMe's own invocation style
(``reme backend=http http.port=8002 llm.default.model_name=M ...``) both work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from app.commands import EXIT_USAGE, exit_code_for
from app.commands import data as data_commands
from app.commands import db as db_commands
from app.commands import keys as keys_commands
from app.commands import library as library_commands
from app.commands import mcp as mcp_commands
from app.commands import reembed as reembed_commands
from app.commands import serve as serve_commands
from app.commands import status as status_commands
from app.commands import worker as worker_commands
from app.db import set_process_role
from app.errors import ReMeError, SchemaMismatch
from app.logging import LogFormat, configure_logging
from app.version import __version__

log = logging.getLogger("reme.cli")

# Each module contributes subcommands with ``register(subparsers)``.
COMMAND_MODULES = [
    serve_commands,
    status_commands,
    db_commands,
    worker_commands,
    keys_commands,
    reembed_commands,
    data_commands,
    library_commands,
    mcp_commands,
]
# Commands that keep running log their progress at INFO; one-shot commands print their result
# and log only warnings unless -v is given.
LONG_RUNNING = {"serve", "worker", "mcp"}

# ReMe's dotted options and the settings they map onto (as environment variables).
REME_OPTION_ENV = {
    "http.port": "REME_SERVER__PORT",
    "http.host": "REME_SERVER__HOST",
    "llm.default.model_name": "REME_LLM__MODEL",
    "embedding_model.default.model_name": "REME_EMBEDDING__MODEL",
    "embedding_model.default.params.dimensions": "REME_EMBEDDING__DIM",
    "mcp.transport": "REME_MCP_TRANSPORT",
    "mcp.port": "REME_SERVER__PORT",
    "mcp.host": "REME_SERVER__HOST",
}
# Every vector store backend ReMe names is served by PostgreSQL here.
REME_VECTOR_BACKENDS = {"local", "memory", "elasticsearch", "chroma", "qdrant", "pgvector"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reme",
        description="Agent memory on PostgreSQL + pgvector (ReMe-compatible).",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING (default: $REME_LOG_LEVEL, else INFO for serve, worker and mcp, "
        "WARNING for the others)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda args: print(__version__) or 0)
    for module in COMMAND_MODULES:
        module.register(sub)
    accept_verbose_everywhere(parser)
    return parser


VERBOSE_HELP = "more detail: INFO lines of every command, migrations and the HTTP server (-vv: DEBUG)"


def accept_verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """``-v`` after a subcommand too (``reme db upgrade -v``), not only before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument(
                    "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP
                )
                accept_verbose_everywhere(child)


def apply_reme_options(pairs: Sequence[str]) -> str:
    """Turn ReMe's ``key=value`` arguments into settings; returns the backend (http or mcp)."""
    backend = "http"
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "backend":
            backend = value
        elif key == "vector_store.default.backend":
            if value not in REME_VECTOR_BACKENDS:
                raise SystemExit(f"reme: unknown vector_store backend {value!r}")
            if value not in ("local", "memory"):
                log.warning("vector_store backend %r: memories are stored in PostgreSQL", value)
        elif key == "embedding_model.default.model_name" and not (
            os.environ.get("REME_EMBEDDING__BASE_URL") or os.environ.get("FLOW_EMBEDDING_BASE_URL")
        ):
            log.warning("no embedding API configured: keeping the local model instead of %r", value)
        elif key in REME_OPTION_ENV:
            os.environ[REME_OPTION_ENV[key]] = value
        else:
            log.warning("ignoring ReMe option %s (not used by this implementation)", key)
    if backend not in ("http", "mcp"):
        raise SystemExit(f"reme: unknown backend {backend!r} (use http or mcp)")
    return backend


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_logging(os.environ.get("REME_LOG_LEVEL", "INFO"))
    if argv and all("=" in a and not a.startswith("-") for a in argv):
        backend = apply_reme_options(argv)
        argv = (
            ["serve"]
            if backend == "http"
            else ["mcp", "--transport", os.environ.get("REME_MCP_TRANSPORT", "stdio")]
        )
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(log_level(args), verbose=args.verbose > 0, log_format=log_format())
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    set_process_role(args.command)  # names this process's database sessions (reme-serve pid=...)
    return run_command(func, args)


def log_format() -> LogFormat:
    """``REME_LOG__FORMAT``, read before the settings (which a bad value would make fail to log)."""
    return "json" if os.environ.get("REME_LOG__FORMAT", "").strip().lower() == "json" else "text"


def log_level(args: argparse.Namespace) -> str:
    if args.verbose > 1:
        return "DEBUG"
    if args.log_level:
        return str(args.log_level)
    if args.verbose:
        return "INFO"
    return os.environ.get("REME_LOG_LEVEL") or ("INFO" if args.command in LONG_RUNNING else "WARNING")


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; the errors a person can act on are one line on stderr, not a traceback."""
    try:
        return int(func(args) or 0)
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        print(f"reme: {describe_failure(exc)}", file=sys.stderr)
        return code


def describe_failure(exc: Exception) -> str:
    from app.db import describe_database
    from app.settings import get_settings

    if isinstance(exc, SchemaMismatch):
        return f"refused: {exc.message}"
    if isinstance(exc, ReMeError):
        return exc.message
    return f"cannot reach the database {describe_database(get_settings())}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
