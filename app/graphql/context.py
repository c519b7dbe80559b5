"""What every resolver gets: the caller and the services."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..auth import Principal
from ..services import Services


@dataclass
class Context:
    services: Services
    principal: Principal | None
    request_id: str
    request: Any = None
    response: Any = None
    # Set by the query cost extension (app/graphql/cost.py) once it has validated.
    cost: Any = None
    # Set when validation passed: a persisted query may then be registered (app/graphql/persisted.py).
    validated: bool = False
    # recordEvent ran without the engine and raised this: Strawberry's path
    # raises it again from the resolver (app/graphql/prepared.py).
    replay_error: BaseException | None = None
    # A resolver read live data beside the reports (the people of a people
    # list): the answer is not kept (app/graphql/answers.py).
    live_reads: bool = False

    @property
    def project_id(self):
        return self.principal.project_id

    def require_read(self) -> Principal:
        self.principal.require_read()
        return self.principal
