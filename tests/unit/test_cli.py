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


def test_backup_and_restore_parse_as_documented() -> None:
    args = build_parser().parse_args(["backup", "apps/chat", "-r", "age1xyz", "-r", "ssh-ed25519 AAAA", "-o", "f.age"])
    assert (args.command, args.topic, args.recipient, args.output, args.annotate) == \
        ("backup", "apps/chat", ["age1xyz", "ssh-ed25519 AAAA"], "f.age", True)
    args = build_parser().parse_args(["restore", "f.age", "--identity", "key.txt", "-n", "new", "--name", "chat2",
                                      "--create-namespace", "--wait"])
    assert (args.command, args.file, str(args.identity), args.namespace, args.name) == \
        ("restore", "f.age", "key.txt", "new", "chat2")
    assert args.create_namespace and args.wait and not args.paused and not args.dry_run
    assert build_parser().parse_args(["run", "--backup-check"]).backup_check is True
    assert build_parser().parse_args(["run"]).backup_check is False


def test_a_bad_recipient_is_one_line_before_the_cluster_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backup", "apps/chat", "-r", "not-a-key", "-o", "x.age", "--kubeconfig", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: recipient 'not-a-key'") and err.count("\n") == 1, err


def test_the_api_rate_limit_is_settable_and_zero_is_none() -> None:
    from swarm_operator.api.throttle import Throttle
    from swarm_operator.cli import config_of
    from swarm_operator.config import Config

    default = config_of(build_parser().parse_args(["run", "--operator-namespace", "op"]))
    assert (default.api_qps, default.api_burst, default.workers) == (Config.api_qps, Config.api_burst, Config.workers)
    config = config_of(build_parser().parse_args(["run", "--operator-namespace", "op", "--api-qps", "5",
                                                  "--api-burst", "7"]))
    rate = Throttle(config.api_qps, config.api_burst).rate
    assert (rate.qps, rate.burst) == (5.0, 7)
    assert [rate.take() for _ in range(7)] == [0.0] * 7 and rate.take() > 0  # a burst of 7, then 5 per second
    unlimited = config_of(build_parser().parse_args(["run", "--operator-namespace", "op", "--api-qps", "0"]))
    assert all(Throttle(unlimited.api_qps, unlimited.api_burst).rate.take() == 0.0 for _ in range(10_000))
