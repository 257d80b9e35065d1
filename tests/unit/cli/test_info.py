"""`neuromap info MODEL.nir` and the subcommand registration."""

import argparse
import subprocess
import sys

import torch

import neuromap as nm
from neuromap import cli
from neuromap.networks import SpikingMLP
from tests.support import FIXTURES


def test_info_prints_nodes_counts_backends(tmp_path, capsys):
    path = nm.save(nm.trace(SpikingMLP(6, [5], 3), torch.rand(2, 1, 6)), tmp_path / "m.nir")
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 nodes, 5 edges" in out
    assert "LIF" in out and "Affine" in out and "(6,)" in out
    assert "neurons: 8" in out and "synapses: 45" in out
    assert "torch: yes" in out


def test_info_bad_file_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"garbage")
    assert cli.main(["info", str(bad)]) == 2
    assert "error" in capsys.readouterr().err


def test_info_norse_fixture_with_convention(capsys):
    path = str(FIXTURES / "norse_lifbox.nir")
    assert cli.main(["info", path, "--convention", "norse"]) == 0
    assert "CubaLIF" in capsys.readouterr().out


def test_subcommand_registration(monkeypatch):
    import types

    mod = types.ModuleType("fake_subcommand_mod")

    def add_parser(sub):
        p = sub.add_parser("targets")
        p.set_defaults(func=lambda args: 7)

    mod.add_parser = add_parser
    monkeypatch.setitem(sys.modules, "fake_subcommand_mod", mod)
    parser = cli.build_parser(["fake_subcommand_mod", "neuromap.does_not_exist"])
    args = parser.parse_args(["targets"])
    assert isinstance(parser, argparse.ArgumentParser) and args.func(args) == 7


def test_console_entry_point_module_runs(tmp_path):
    path = nm.save(nm.trace(SpikingMLP(3, [2], 2), torch.rand(2, 1, 3)), tmp_path / "m.nir")
    res = subprocess.run([sys.executable, "-m", "neuromap.cli", "info", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "torch: yes" in res.stdout
