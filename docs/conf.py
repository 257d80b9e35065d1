"""Sphinx configuration for the neuromap docs (``make docs``; ``tests/integration/test_docs.py`` builds a fast variant).

Generated at build time into ``docs/_generated/`` (not committed): the CLI reference (from
``neuromap.cli.build_parser``), the hardware-target tables (from ``hardware/*.toml``) and copies of
the tutorial notebooks. ``NEUROMAP_DOCS_FAST=1`` skips executing the notebooks (they are rendered
without outputs); otherwise they run in short mode (``NEUROMAP_NOTEBOOK_SHORT=1``) and the pages show
their outputs and plots.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import neuromap

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATED = HERE / "_generated"

# docs/_gen.py (the generators), loaded from its file: docs/ is no package and sys.path stays as it is.
_spec = importlib.util.spec_from_file_location("neuromap_docs_gen", HERE / "_gen.py")
_gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gen)

FAST = os.environ.get("NEUROMAP_DOCS_FAST", "").strip() not in ("", "0")

project = "neuromap"
author = "the neuromap authors"
copyright = "neuromap authors, BSD-3-Clause"
release = version = neuromap.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "myst_nb"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_title = f"neuromap {release}"

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # dataclass fields are members already: an Attributes section must not re-declare them
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# Notebooks: executed in short mode (outputs and plots in the pages), or not at all in fast mode.
nb_execution_mode = "off" if FAST else "force"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
os.environ.setdefault("NEUROMAP_NOTEBOOK_SHORT", "1")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

if GENERATED.exists():
    shutil.rmtree(GENERATED)
GENERATED.mkdir()
_gen.write_cli_reference(GENERATED / "cli.md")
_gen.write_targets(GENERATED / "targets.md")
_gen.copy_notebooks(ROOT / "notebooks", GENERATED / "notebooks")
