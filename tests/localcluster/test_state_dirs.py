"""A stopped node's state directory (logs, pods' volumes and sandboxes: hundreds of MB a run) goes
with it, as the control plane's does, unless SWARM_KEEP_STATE keeps it to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from localcluster.testing import remove_state


def test_a_stopped_nodes_state_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARM_KEEP_STATE", raising=False)
    state = tmp_path / "swarm-node-x"
    (state / "logs").mkdir(parents=True)
    (state / "logs" / "kubelet.log").write_text("...")
    remove_state(state)
    assert not state.exists()


def test_swarm_keep_state_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_KEEP_STATE", "1")
    state = tmp_path / "swarm-node-y"
    state.mkdir()
    remove_state(state)
    assert state.exists()
