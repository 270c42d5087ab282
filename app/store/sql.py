"""Small SQL building blocks shared by the data layer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute


def among(column: InstrumentedAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter however many values there are.

    ``IN (...)`` binds one parameter per value, and PostgreSQL's protocol stops at 32,767
    parameters, so a request naming more ids than that would fail.
    """
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
