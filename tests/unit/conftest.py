from collections.abc import Iterator

import pytest
from swarm_operator.planner import desired
from unit_support import topic  # noqa: F401 - the fixture, for pytest to find


@pytest.fixture(autouse=True)
def _fresh_planner_memories() -> Iterator[None]:
    """The planner remembers what live children it found as wished (`planner/desired.py`), by their
    uid and version; the tests' children reuse both across cases."""
    desired.forget()
    yield
    desired.forget()
