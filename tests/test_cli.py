"""Tests for the `freezelab` dispatcher."""

import pytest

from freezelab import __version__
from freezelab.cli import COMMANDS, main


def test_unknown_command_exits_2_with_one_line(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown command 'frobnicate'" in err and "doctor" in err


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main([]) == 2  # no command at all is a usage error


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"freezelab {__version__}"


def test_dispatches_to_the_module_and_passes_arguments(capsys):
    with pytest.raises(SystemExit) as exc:  # argparse's --help exits 0 from inside the subcommand
        main(["doctor", "--help"])
    assert exc.value.code == 0
    assert "--json" in capsys.readouterr().out
