"""`kubectl swarm`: the project's own kubectl finds the installed kubectl-swarm plugin and runs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from packaging_support import run, tool

VENV_BIN = Path(sys.executable).parent


def kubectl(*args: str, check: bool = True) -> tuple[int, str, str]:
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = run(tool("kubectl"), *args, check=check, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def test_kubectl_lists_the_plugin() -> None:
    _, out, _ = kubectl("plugin", "list", check=False)
    assert str(VENV_BIN / "kubectl-swarm") in out, out


def test_kubectl_swarm_runs_the_status_view() -> None:
    _, out, _ = kubectl("swarm", "--help")
    assert out.startswith("usage: kubectl swarm") and "status" in out, out
    assert "backup" in out and "restore" in out, out
    _, out, _ = kubectl("swarm", "status", "--help")
    assert "[NAMESPACE/]NAME" in out and "bootstrap timeline" in out, out


def test_a_missing_kubeconfig_is_one_clear_line(tmp_path: Path) -> None:
    code, out, err = kubectl("swarm", "status", "apps/chat", "--kubeconfig", str(tmp_path / "none"),
                             check=False)
    assert code == 1 and out == "" and err.startswith("error: "), (code, out, err)
    assert "Traceback" not in err
