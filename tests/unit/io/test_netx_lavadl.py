"""lava-dl's own reader (``lava.lib.dl.netx.hdf5.Network``, lava-dl 0.6.0, the ``make setup`` cross-check
extra) against neuromap's: the processes lava-dl builds from lava-dl's files hold the integers that
``load_netx`` and the Loihi quantiser give (every layer's neuron parameters and synapse weights), and a
file written by ``save_netx`` builds in lava-dl the very processes the original file builds.

Importing ``lava.lib.dl`` pulls in SLAYER's object-detection package (torchvision, opencv), which the
netx reader never uses; the fixture stubs that one package for the test's duration."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest

from neuromap.backends.loihi.emulator import LoihiLIF, LoihiSigmaDelta
from neuromap.backends.loihi.float_to_fixed import quantize
from neuromap.io.netx import load_netx, save_netx

from .test_netx import nets  # noqa: F401 - the vendored networks, unpacked (fixture)

CASES = ["tiny", "pilotnet_lif", "pilotnet_sdnn"]
FAST = ["tiny", pytest.param("pilotnet_lif", marks=pytest.mark.slow), "pilotnet_sdnn"]  # PilotNet LIF: ~4 s
MISSING = ("LOUD SKIP: lava-dl 0.6.0 is not installed (pip install --no-deps --ignore-requires-python "
           "lava-dl==0.6.0, after lava-nc); make setup installs it")


@pytest.fixture(scope="module")
def hdf5():
    """lava-dl's ``netx.hdf5`` module, imported through the project's Lava shim."""
    from neuromap.compat.lava import LavaUnavailable, ensure_lava

    if importlib.util.find_spec("lava") is None or importlib.util.find_spec("lava.lib.dl") is None:
        pytest.skip(MISSING)

    try:
        ensure_lava()
    except LavaUnavailable as exc:
        pytest.skip(f"LOUD SKIP: lava-nc does not import ({exc})")
    stub = "lava.lib.dl.slayer.object_detection"
    saved = sys.modules.get(stub)
    sys.modules[stub] = types.ModuleType(stub)  # SLAYER's object detection: torchvision / cv2, unused by netx
    try:
        from lava.lib.dl.netx import hdf5
    except ModuleNotFoundError as exc:
        pytest.skip(f"{MISSING} ({exc})")
    finally:
        if saved is None:
            sys.modules.pop(stub, None)
        else:
            sys.modules[stub] = saved
    return hdf5


def _init(var) -> np.ndarray:
    return np.asarray(var.init)


def _whc_to_flat(a: np.ndarray) -> np.ndarray:
    """lava-dl's (W, H, C) array in neuromap's flat C, H, W order."""
    return a.transpose(2, 1, 0).reshape(-1) if a.ndim == 3 else a.reshape(-1)


def _pairs(net, netlist, network) -> list:
    """lava-dl's blocks beside neuromap's Loihi populations, in network order (flatten blocks are no layer)."""
    ours = [netlist.population(p.name) for p in network.populations]
    by_name = {p.name: p for p in network.populations}
    assert len(net.layers) == len(ours), ([type(b).__name__ for b in net.layers], [p.name for p in ours])
    return [(block, by_name[p.name], p) for block, p in zip(net.layers, ours)]


def _check_neuron(block, layer, name: str) -> None:
    n = block.neuron
    kind = type(n).__name__
    if isinstance(layer, LoihiLIF):
        assert kind == "LIF", (name, kind)
        for var in ("du", "dv", "vth"):
            assert np.all(_init(getattr(n, var)) == getattr(layer, var)), (name, var)
        bias = np.broadcast_to(_init(n.bias_mant), block.shape)
        assert np.array_equal(_whc_to_flat(np.asarray(bias)), layer.bias_mant), name
        assert np.all(_init(n.bias_exp) == layer.bias_exp), name
        return
    assert kind == {"sigma_delta": "SigmaDelta", "delta": "Delta", "sigma": "Sigma"}[layer.mode], (name, kind)
    if layer.mode == "sigma":
        return
    vth, bias = layer.scaled
    assert int(_init(n.vth)) == int(vth), name
    assert int(_init(n.spike_exp)) == layer.spike_exp and int(_init(n.state_exp)) == layer.state_exp, name
    assert bool(_init(n.cum_error)) == layer.cum_error, name
    if layer.mode == "sigma_delta":
        assert np.array_equal(_whc_to_flat(np.broadcast_to(_init(n.bias), block.shape)), bias), name


def _check_synapse(block, proj, name: str, graded: bool) -> None:
    s = block.synapse
    weight = s.weight if hasattr(s, "weight") else s.weights  # Lava's Conv / Dense
    w = _init(weight).astype(np.float64) * 2.0 ** int(s.proc_params["weight_exp"])  # the exponent may be negative
    ours = np.asarray(proj.weight.toarray() if hasattr(proj.weight, "toarray") else proj.weight, np.float64)
    scale = 64 if graded else 1  # sigma-delta weights are integers / 2**6 in the graph (SLAYER's weight scale)
    ours = ours * scale
    if proj.kind == "conv":  # lava: (out, kx, ky, in), flipped (Lava's Conv convolves, SLAYER correlates, so
        # lava-dl flips the file's kernels); neuromap: (out, in, ky, kx) as the file holds them
        kernel = ours.transpose(0, 3, 2, 1)[:, ::-1, ::-1]
        assert np.array_equal(w, kernel), name
        assert tuple(np.asarray(_init(s.stride)).tolist()) == tuple(proj.conv.stride[::-1]), name
    else:
        assert np.array_equal(w, ours), name  # a dense block's inputs in the file's order on both sides


@pytest.mark.parametrize("case", FAST)
def test_lava_dls_reader_builds_the_integers_neuromap_reads(hdf5, nets, case):  # noqa: F811
    net = hdf5.Network(net_config=str(nets[case]))
    netlist = load_netx(nets[case]).lower()
    network, _ = quantize(netlist)  # what backends loihi / lava run (no partition: it does not change the integers)
    for block, layer, pop in _pairs(net, netlist, network):
        _check_neuron(block, layer, pop.name)
        assert int(np.prod(block.shape)) == layer.size, pop.name
        synaptic = [p for p in netlist.incoming(pop.name) if p.kind in ("conv", "dense", "sparse")]
        assert (getattr(block, "synapse", None) is not None) == bool(synaptic), pop.name
        if synaptic:
            _check_synapse(block, synaptic[0], pop.name, isinstance(layer, LoihiSigmaDelta))
    if case == "pilotnet_sdnn":  # graded spikes between the blocks: lava-dl's synapses take 16-bit messages
        assert {int(_init(b.synapse.num_message_bits)) for b in net.layers[1:]} == {16}


def _state(block) -> dict[str, np.ndarray]:
    """Every variable of a lava-dl block's processes, by process and name."""
    out = {"type": np.array(type(block).__name__), "shape": np.asarray(block.shape)}
    for part in ("neuron", "synapse"):
        proc = getattr(block, part, None)
        if proc is None:
            continue
        out[f"{part}.class"] = np.array(type(proc).__name__)
        for var in proc.vars.member_names:
            out[f"{part}.{var}"] = np.asarray(getattr(proc, var).init)
    return out


@pytest.mark.parametrize("case", CASES)
def test_a_file_saved_by_save_netx_builds_the_same_lava_processes_in_lava_dl(hdf5, nets, case, tmp_path):  # noqa: F811
    out = save_netx(load_netx(nets[case]), tmp_path / f"{case}.net")
    want = [_state(b) for b in hdf5.Network(net_config=str(nets[case])).layers]
    got = [_state(b) for b in hdf5.Network(net_config=str(out)).layers]
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.keys() == b.keys(), (i, sorted(a.keys() ^ b.keys()))
        for k in a:
            assert a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), (case, i, k)
