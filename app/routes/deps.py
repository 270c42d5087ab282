"""Dependencies handed to route handlers."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency

from app.services import Services


async def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


# Annotation for handler parameters that receive the services.
ServicesDep = NamedDependency[Services]
