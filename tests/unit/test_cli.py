"""`swarm-operator --help` lists every subcommand with its help."""

from __future__ import annotations

import argparse

import pytest
from swarm_operator.cli import build_parser, main


def subcommands(parser: argparse.ArgumentParser) -> dict[str, str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: choice.help or "" for choice in action._choices_actions}


def test_help_lists_every_subcommand_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = subcommands(build_parser())
    assert {"run", "crd", "status"} <= set(commands)
    assert all(commands.values()), commands
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name, text in commands.items():
        assert name in out and text.split()[0] in out, name


def test_status_takes_namespace_slash_name() -> None:
    args = build_parser().parse_args(["status", "apps/chat", "--events", "3"])
    assert (args.command, args.topic, args.events) == ("status", "apps/chat", 3)


def test_status_refuses_two_namespaces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "apps/chat", "-n", "other"]) == 2
    assert "disagree" in capsys.readouterr().err
