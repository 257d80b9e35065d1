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
