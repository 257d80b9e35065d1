"""``python -m neuromap.cli``: the ``neuromap`` command."""

import sys

from neuromap.cli import main

sys.exit(main())
