"""Which database errors mean "unavailable, retry later" (503 for requests, backoff for the worker)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.db import database_unavailable


class DriverError(Exception):
    """What a driver raises: an error carrying the server's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server said {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [
        ("57P03", True),  # the database system is starting up
        ("57P01", True),  # terminating connection due to administrator command
        ("57P02", True),  # crash shutdown
        ("08006", True),  # connection failure
        ("53300", True),  # too many connections
        ("23505", False),  # unique violation: retrying cannot help
        ("22P02", False),  # invalid text representation
    ],
)
def test_a_driver_error_is_classified_by_its_sqlstate(sqlstate: str, unavailable: bool) -> None:
    exc = DBAPIError("SELECT 1", {}, DriverError(sqlstate))
    assert database_unavailable(exc) is unavailable


def test_connection_level_errors_are_unavailable() -> None:
    assert database_unavailable(ConnectionRefusedError(111, "Connection refused"))
    assert database_unavailable(OperationalError("SELECT 1", {}, DriverError("")))
    assert not database_unavailable(IntegrityError("INSERT", {}, DriverError("23505")))
    assert not database_unavailable(ValueError("not a database error"))
