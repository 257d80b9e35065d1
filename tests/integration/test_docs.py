"""The docs site builds with warnings as errors, and what it generates from the code is complete.

``test_docs_build_fast`` builds the whole site without executing the notebooks (``NEUROMAP_DOCS_FAST=1``;
slow: ~15 s of CPU, up to a minute on a loaded machine); ``make docs`` also executes them, in short mode,
and ``test_docs_tutorial_pages_show_their_plots`` (slow) builds the site that way and checks the rendered
tutorial pages for their plots. The notebooks are executed by the docs build rather than committed with
outputs: the reviewed source stays the jupytext ``.py`` without megabytes of base64 images in every
diff, and the pages always show what the current code draws. The fast checks below cover the generated
pages and the plain-text ``--help``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from neuromap.cli import build_parser
from tests.support import ROOT, venv_kernel_env

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
    blocks = text.split("```text")[1:]
    long = [line for block in blocks for line in block.split("```")[0].splitlines() if len(line) > 80]
    assert not long, f"usage / description lines wider than the page's code blocks: {long[:3]}"


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
    api_dir = tmp_path / "html" / "_generated" / "api"
    data_page = (api_dir / "neuromap.data.html").read_text()
    assert "neuromap.data.load" in data_page and "time-major" in data_page  # docstrings rendered, one module a page
    assert "neuromap.energy.neurobench.html" in (api_dir / "index.html").read_text()
    api = "".join(p.read_text() for p in api_dir.glob("*.html"))
    cli = (tmp_path / "html" / "_generated" / "cli.html").read_text()
    assert "neuromap deploy" in cli
    assert "--layout" in cli and "\u2013layout" not in cli  # options keep their two hyphens
    assert "Define the computation performed at every call" not in api  # torch's inherited docstring
    assert "neuromap.energy.neurobench.measure" in api
    assert (tmp_path / "html" / "_generated" / "notebooks" / "01_train_snn.html").exists()


@pytest.mark.slow
def test_docs_tutorial_pages_show_their_plots(tmp_path):
    """The site as ``make docs`` builds it (notebooks executed in short mode, not the fast variant): every
    tutorial page holds its plots as images in the rendered HTML, and each image file exists."""
    pytest.importorskip("myst_nb", reason="SKIPPED LOUDLY: myst-nb (docs extra) is not installed")
    env = dict(os.environ, NEUROMAP_DOCS_FAST="0", NEUROMAP_NOTEBOOK_SHORT="1", OMP_NUM_THREADS="1",
               **venv_kernel_env(tmp_path / "kernel"))
    html = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(DOCS),
                           str(html)], env=env, capture_output=True, text=True, timeout=3000, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-5000:]
    pages = sorted((html / "_generated" / "notebooks").glob("[0-9][0-9]_*.html"))
    assert len(pages) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))) > 0
    for page in pages:
        images = re.findall(r'<img [^>]*src="([^"]+\.png)"', page.read_text())
        assert images, f"{page.name}: no plot on the rendered page"
        for src in images:
            assert (page.parent / src).resolve().is_file(), f"{page.name}: {src} is missing"
