"""Fixtures of the end-to-end suite: one cluster per session (`E2E_CLUSTER=local|real`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from e2e_support import RESTRICTED, Cluster, ensure_dht, start_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    # Cases marked `last` (the audit of the whole run) go after everything else.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    cluster = start_cluster()  # the local cluster is shared by the session and closed at its end
    ensure_dht(cluster)
    yield cluster


@pytest.fixture
def ns(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the case's own, enforcing the `restricted` Pod Security Standard, deleted
    afterwards with everything in it (peers stop, so later cases do not share the two cores with
    the leftovers of earlier ones)."""
    name = "e2e-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    cluster.create_namespace(name, RESTRICTED)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

