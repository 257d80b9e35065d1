"""SpiNNaker2 execution model speed: a 100k-neuron LSM reservoir, 100 timesteps (target: < 60 s on 2 cores).

    python benchmarks/spinnaker2_lsm.py [--neurons 100000] [--steps 100] [--p 1e-4] [--threads 2]

Builds the zoo's LSM reservoir (``networks/lsm.py``: random E/I connectivity, LIF neurons), lowers it
to a netlist (input -> reservoir CSR projection, recurrent CSR self-loop), partitions it for
``spinnaker2`` (sequential fill: the METIS atom graph of 100k neurons is a separate benchmark),
compiles the per-PE programs and runs 100 steps. Times compile and run separately; checks the spikes
against the zoo reservoir's own simulation. Writes ``benchmarks/results/spinnaker2-lsm-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from neuromap import backends
from neuromap.netlist import Netlist, Population, Projection
from neuromap.networks.lsm import Reservoir, random_connectivity
from neuromap.neurons import LIFParams

OUT = Path(__file__).resolve().parent / "results"


def reservoir_netlist(res: Reservoir) -> Netlist:
    net = Netlist("lsm")
    net.add_population(Population("input", "input", (res.n_inputs,)))
    net.add_population(Population("reservoir", "lif", (res.n,), res.params.to_dict()))
    w_in = sp.csr_matrix(res.w_in.numpy())
    w_rec = sp.csr_matrix(res.connectivity.weights.tocsr() * res.rec_scale).astype(np.float32)
    net.add_projection(Projection("input->reservoir", "input", "reservoir", "sparse", weight=w_in))
    net.add_projection(Projection("reservoir->reservoir", "reservoir", "reservoir", "sparse", weight=w_rec))
    return net


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--p", type=float, default=1e-4, help="recurrent connection probability")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--numerics", default="fp32", choices=["fp32", "s16.15"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    conn = random_connectivity(args.neurons, args.p, w_exc=0.6, w_inh=-2.0, seed=0)
    res = Reservoir(40, conn, LIFParams(tau_mem=20e-3, dt=1e-3), input_weight=1.2, input_fraction=0.1, seed=0)
    net = reservoir_netlist(res)
    t_build = time.perf_counter() - t0
    u = (torch.rand(args.steps, 1, 40, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    be = backends.get("spinnaker2")
    t0 = time.perf_counter()
    compiled = be.compile_netlist(net, numerics=args.numerics, method="sequential")
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = compiled.run({"input": u})
    t_run = time.perf_counter() - t0
    ref = res.simulate(u, method="csr").spikes
    spikes = out.records["reservoir"]
    summary = out.summary()
    result = {
        "benchmark": "spinnaker2_lsm", "date": dt.date.today().isoformat(), "torch_threads": args.threads,
        "neurons": args.neurons, "synapses": int(net.n_synapses), "steps": args.steps, "numerics": args.numerics,
        "pes": compiled.mapping.n_cores, "chips": summary["chips"], "sram_max_bytes": summary["sram_max_bytes"],
        "build_s": t_build, "compile_s": t_compile, "run_s": t_run, "run_under_60s": t_run < 60.0,
        "spikes": float(spikes.sum()), "mean_rate_per_step": float(spikes.mean()),
        "spike_agreement_vs_zoo_reservoir": float((spikes == ref).float().mean()),
        "identical_to_zoo_reservoir": bool(torch.equal(spikes, ref)),
        "totals": summary["totals"], "link_packet_hops": summary["link_packet_hops"],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"spinnaker2-lsm-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "totals"}, indent=1))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
