"""Docs that cannot rot: every code block in README.md runs.

Python blocks run in order in one namespace (later blocks use earlier names), in a temporary
directory; then every shell block runs there too, with the venv's ``neuromap`` on PATH. The one
exception is a line that invokes ``make`` (``make demo`` / ``make test``): CI runs ``make test``
itself, and running it from inside the test suite would recurse.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

README = ROOT / "README.md"
TEXT = README.read_text()
PYTHON = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
SHELL = re.findall(r"```sh\n(.*?)```", TEXT, flags=re.S)


def test_readme_code_blocks_run(tmp_path, monkeypatch):
    assert PYTHON and SHELL
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(PYTHON):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for block in SHELL:
        for line in block.splitlines():
            cmd = line.split("#")[0].strip()
            if not cmd or cmd.startswith("make "):
                continue
            out = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, f"README command failed: {cmd}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"


def test_each_extension_recipe_names_at_most_two_files_and_a_test_that_exists():
    """The five recipes (target, target kind, backend, model, neuron) each say how many files they
    touch (at most 2) and name the test that follows them, which exists."""
    section = TEXT.split("### Extending neuromap: five recipes", 1)[1].split("\n## ", 1)[0]
    recipes = re.findall(r"\*\*Add an? ([^*]+)\*\* \((\d) files?:", section)
    assert [r[0] for r in recipes] == ["target", "target kind", "backend", "model with its own graph node",
                                       "neuron model"]
    assert all(1 <= int(n) <= 2 for _, n in recipes), recipes
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", section)
    assert len(tests) == 5, tests
    root = README.parent
    for path, name in tests:
        assert f"def {name}(" in (root / path).read_text(), (path, name)
