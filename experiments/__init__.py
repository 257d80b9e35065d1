"""Scripts that reproduce the README's results, one module each, run from the repository root as
``python -m experiments.NAME`` (``--help`` lists a script's options; ``--quick`` gives a short run).

Each writes ``results/NAME.json`` (the numbers with their provenance: commit, command line,
package versions) and usually a plot ``results/NAME.png``; ``python -m tools.update_readme``
renders the README's tables from those JSON files. ``_common`` holds the result folder,
provenance and atomic JSON writing every script shares; ``_zoo`` the training loop and learning
curve of the model-zoo experiments.
"""
