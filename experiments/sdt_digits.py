"""SpikeDrivenTransformer V1 (tiny) on scikit-learn digits, T=4 direct (current) encoding.

    python experiments/sdt_digits.py [--epochs 20] [--seed 0] [--quick]

Writes ``results/sdt_digits.json`` (test accuracy, wall time, per-epoch history) and ``results/sdt_digits.png``
(training curve).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _zoo import RESULTS, run_experiment  # noqa: E402

from neuromap import (
    data,  # noqa: E402
    train,  # noqa: E402
)
from neuromap.networks.sdt import SpikeDrivenTransformer  # noqa: E402

EPOCHS = 20


def run(epochs: int = EPOCHS, seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None) -> dict:
    digits = data.digits(encoding="current", steps=4, flatten=False, seed=seed)
    train.set_seed(seed)
    model = SpikeDrivenTransformer.tiny()
    return run_experiment("sdt_digits", model, digits, epochs, 2e-3, "membrane_ce", seed, out_dir, grad_clip=None,
                          extra={"config": "SpikeDrivenTransformer.tiny()"}, progress=progress)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    args = ap.parse_args()
    r = run(2 if args.quick else args.epochs, args.seed)
    print(f"sdt_digits: test accuracy {100 * r['test_accuracy']:.2f} % ({r['parameters']} parameters), "
          f"trained in {r['train_wall_seconds']:.1f} s -> {RESULTS / 'sdt_digits.json'}")


if __name__ == "__main__":
    main()
