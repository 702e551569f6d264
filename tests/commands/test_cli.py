"""The dispatcher: every subcommand is registered and its ``--help`` ends with an example."""

from __future__ import annotations

import pytest

from saunet.cli import COMMANDS, main


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_a_runnable_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    example_at = max(i for i, ln in enumerate(lines) if ln.startswith("Example"))
    examples = lines[example_at + 1 :]
    assert examples and all(ln.startswith(("saunet ", "torchrun ")) for ln in examples), examples
    assert any(ln.split()[1] == command for ln in examples if ln.startswith("saunet "))


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
