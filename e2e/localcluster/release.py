"""`scripts/release.sh` (what `make release` runs) against a registry of the local cluster's
(`registry.Registry`): the packaging test of the release and the e2e install from OCI share it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .controlplane import REPO

RELEASE = REPO / "scripts" / "release.sh"


def run_release(version: str, registry: str, out: Path, *extra: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`scripts/release.sh` as `make release` runs it; its summary is `<out>/release-<version>.json`."""
    tools = str(REPO / ".tools" / "bin")
    environ = {**os.environ, "PATH": f"{tools}:{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(["bash", str(RELEASE), version, "--registry", registry, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=1800, env=environ)
