"""The docs site builds with warnings as errors, and what it generates from the code is complete.

``test_docs_build_fast`` builds the whole site without executing the notebooks (``NEUROMAP_DOCS_FAST=1``;
slow: ~15 s of CPU, up to a minute on a loaded machine); ``make docs`` also executes them. The fast
checks below cover the generated pages and the plain-text ``--help``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

import pytest

from neuromap.cli import build_parser
from tests.support import ROOT

DOCS = ROOT / "docs"


def _gen():
    spec = importlib.util.spec_from_file_location("_docs_gen", DOCS / "_gen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    return _gen()._subcommands(build_parser())


def test_cli_reference_lists_every_subcommand_and_option(tmp_path):
    _gen().write_cli_reference(tmp_path / "cli.md")
    text = (tmp_path / "cli.md").read_text()
    subs = _subparsers()
    assert {"info", "targets", "partition", "deploy", "report"} <= set(subs)
    for name, sub in subs.items():
        assert f"## `neuromap {name}`" in text
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for opt in action.option_strings:
                assert opt in text, f"{name} {opt} missing from the CLI reference"


def test_every_cli_option_has_help():
    for name, sub in _subparsers().items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"neuromap {name}: {action.option_strings or action.dest} has no help text"


def test_help_shows_no_raw_markup():
    parser = build_parser()
    for name, sub in {"": parser, **_subparsers()}.items():
        text = sub.format_help()
        for role in (":func:`", ":class:`", ":mod:`", ":meth:`", "``"):
            assert role not in text, f"neuromap {name} --help shows raw {role!r}"


def test_target_pages_cover_every_target(tmp_path):
    from neuromap import targets

    _gen().write_targets(tmp_path / "targets.md")
    text = (tmp_path / "targets.md").read_text()
    for name in targets.available():
        assert f"## `{name}`" in text
    assert "Davies" in text  # a cited source, carried into the page


@pytest.mark.slow
def test_docs_build_fast(tmp_path):
    pytest.importorskip("sphinx", reason="SKIPPED LOUDLY: sphinx (docs extra) is not installed")
    pytest.importorskip("myst_nb", reason="SKIPPED LOUDLY: myst-nb (docs extra) is not installed")
    env = dict(os.environ, NEUROMAP_DOCS_FAST="1")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(DOCS),
                           str(tmp_path / "html")], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-5000:]
    api = (tmp_path / "html" / "api.html").read_text()
    assert "neuromap.data.load" in api and "time-major" in api  # docstrings rendered
    cli = (tmp_path / "html" / "_generated" / "cli.html").read_text()
    assert "neuromap deploy" in cli
    assert (tmp_path / "html" / "_generated" / "notebooks" / "01_train_snn.html").exists()
