"""Target kinds and target files.

The README's "Add a target kind" recipe, done: a toy kind in one module plus one TOML, and
``neuromap targets``, ``partition`` and ``report`` work for it with no other change. Then the
target-file checks of issue 26 (items 7, 8, 9, 12, 13, 15): every figure a known name of its kind,
its unit of the figure's dimension, values whose products stay finite, numerics a backend can hold,
a router grid within the memory budget, a directory named as one, a backend refusing a target kind
it cannot run; each on the command line with exit code 2 and one line.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
import torch

import neuromap as nm
from neuromap import backends, cli, targets
from neuromap.energy import collect
from neuromap.energy.report import build_report
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from neuromap.partition import partition

TOY_KIND = '''
"""A toy kind: cores of ``core.neurons`` neurons, each synaptic event costs ``energy.e_op``."""
from neuromap.estimate import Estimate, fig, term
from neuromap.partition.split import Limits
from neuromap.targets import FigureSpec, TargetKind, register_kind


class Toy(TargetKind):
    name = "toy"
    description = "a toy chip: neurons per core, energy per synaptic event, a fixed step"
    figures = {"core.neurons": FigureSpec("1", "int", positive=True, required=True, needs_value=True),
               "energy.e_op": FigureSpec("J", positive=True, required=True),
               "timing.timestep": FigureSpec("s", positive=True)}
    summary_keys = ("core.neurons", "energy.e_op")

    def limits(self, target, weight_bits=None):
        return Limits(self.name, max_neurons=target.get("core.neurons"))

    def estimate(self, netlist, activity, target, mapping, counters, options):
        est = Estimate(target.name, self.name, activity.samples, activity.steps)
        e_op = fig(target, "energy.e_op", required=True)
        for proj, (_src, dst) in activity.projection_ends.items():
            est.energy_terms.append(term("energy", "synaptic events", activity.synops[proj], f"events ({proj})",
                                         e_op, "energy.e_op", dst))
        step = fig(target, "timing.timestep")
        if step is not None:
            est.latency_terms.append(term("latency", "step", 1, "step", step, "timing.timestep"))
        est.resources = {"cores": mapping.n_cores}
        return est


register_kind(Toy())
'''

TOY_TOML = '''
name = "toychip"
kind = "toy"
description = "a toy chip for the recipe test"

[core]
neurons = { value = 16, unit = "1", source = "test", confidence = "D" }

[energy]
e_op = { value = 2.0e-12, unit = "J", source = "test", confidence = "D" }

[timing]
timestep = { value = 1.0e-3, unit = "s", source = "test", confidence = "D" }
'''


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = SpikingMLP(64, [40], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return Path(nm.save(nm.trace(m, torch.rand(3, 1, 64)), tmp_path_factory.mktemp("m") / "m.nir"))


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def bad(capsys, *argv, names: str) -> str:
    """The command exits 2 with one line on stderr that names ``names`` and no traceback."""
    code, _out, err = run_cli(capsys, *argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    assert names in lines[0], lines[0]
    return lines[0]


def test_a_toy_kind_in_one_module_and_one_toml_gets_targets_partition_and_report(tmp_path, monkeypatch, capsys,
                                                                                  model_file):
    (tmp_path / "toykind.py").write_text(textwrap.dedent(TOY_KIND))
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("toykind")
    toml = tmp_path / "toychip.toml"
    toml.write_text(TOY_TOML)
    code, out, _ = run_cli(capsys, "targets", toml)
    assert code == 0 and "toychip (toy)" in out and "energy.e_op" in out
    code, out, _ = run_cli(capsys, "targets")
    assert code == 0 and "toy " in out.split("kinds", 1)[1]
    code, out, _ = run_cli(capsys, "targets", "--kind", "toy")
    assert code == 0 and "core.neurons" in out and "energy" in out
    code, out, _ = run_cli(capsys, "partition", model_file, "--target", toml)
    assert code == 0 and "toychip (toy)" in out and "cores" in out
    code, out, _ = run_cli(capsys, "report", model_file, "--target", toml, "--dataset", "digits", "--samples", 2,
                           "--steps", 4)
    assert code == 0 and "toychip" in out and "toy" in out
    # the same in Python, with the numbers checked: 40 + 10 neurons on 16-neuron cores, synops x 2 pJ
    graph = nm.load(model_file)
    net = graph.lower()
    mapping = partition(net, toml)
    assert mapping.n_cores == math.ceil(40 / 16) + math.ceil(10 / 16) + math.ceil(64 / 16)
    x = (torch.rand(4, 2, 64) < 0.3).float()
    act = collect(net, backends.get("torch").compile(graph).run(x).records | {graph.inputs[0]: x})
    est = build_report(net, act, [toml]).estimates["toychip"]
    assert est.energy_J == pytest.approx(sum(act.synops.values()) * 2e-12) and est.latency_per_step_s == 1e-3


# --- target files: names, units, values, structure -------------------------------------------------

def edited(tmp_path: Path, src: str, old: str, new: str, name: str = "custom.toml") -> Path:
    text = (targets.folder() / f"{src}.toml").read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_figure_in_the_unit_of_another_dimension_is_refused_naming_both(tmp_path):
    e_hop = edited(tmp_path, "loihi2", 'e_hop = { missing = "no official Loihi 2 per-hop energy has been published" }',
                   'e_hop = { value = 5.0, unit = "s", source = "t", confidence = "D" }')
    with pytest.raises(targets.TargetError, match=r"energy\.e_hop: unit must be 'J' \(energy\), got 's' \(time\)"):
        targets.load(e_hop)
    t_synop = edited(tmp_path, "loihi", 't_synop = { value = 3.5e-9, unit = "s"', 't_synop = { value = 3.5e-9, unit = "J"')
    with pytest.raises(targets.TargetError, match=r"timing\.t_synop: unit must be 's' \(time\), got 'J' \(energy\)"):
        targets.load(t_synop)


def test_a_misspelled_figure_is_refused_with_the_closest_known_name(tmp_path, capsys, model_file):
    path = edited(tmp_path, "loihi", "p_static_chip = ", "p_static_chp = ")
    with pytest.raises(targets.TargetError, match="energy.p_static_chp: not a figure of a digital target "
                                                  r"\(did you mean 'energy\.p_static_chip'"):
        targets.load(path)
    bad(capsys, "report", model_file, "--target", path, "--dataset", "digits", "--samples", 2, names="p_static_chip")


def test_a_figure_whose_product_overflows_is_refused_naming_the_term_and_the_figure(tmp_path, capsys, model_file):
    path = edited(tmp_path, "loihi", "e_synop = { value = 23.6e-12,", "e_synop = { value = 1e308,")
    msg = bad(capsys, "report", model_file, "--target", path, "--dataset", "digits", "--samples", 4, names="e_synop")
    assert "is not finite" in msg and "synaptic ops" in msg


@pytest.mark.parametrize("old,new,names", [
    ('state_bits = { value = 24,', 'state_bits = { value = 1,', "numerics.state_bits = 1"),
    ('weight_bits = { value = 8,', 'weight_bits = { value = 64,', "numerics.weight_bits = 64"),
])
def test_the_loihi_backends_refuse_numerics_their_compartment_cannot_hold(tmp_path, capsys, model_file, old, new,
                                                                          names):
    path = edited(tmp_path, "loihi2", old, new)
    for backend in ("loihi", "lava"):
        with pytest.raises(backends.BackendError, match=names):
            backends.get(backend).compile(nm.load(model_file), path)
    msg = bad(capsys, "deploy", model_file, "--backend", "loihi", "--target", path, "--dataset", "digits",
              "--samples", 2, names=names)
    assert "loihi backend cannot run target 'loihi2'" in msg


def test_spinnaker2_refuses_s16_15_weights_wider_than_8_bits_and_state_other_than_32(tmp_path, model_file):
    graph = nm.load(model_file)
    wide = edited(tmp_path, "spinnaker2", "weight_bits = { value = 8,", "weight_bits = { value = 64,", "w.toml")
    with pytest.raises(backends.BackendError, match="weight_bits = 64.*s16.15 weights are signed integers of 2 to 8"):
        backends.get("spinnaker2").compile(graph, wide, numerics="s16.15")
    assert backends.get("spinnaker2").compile(graph, wide).numerics == "fp32"  # fp32 keeps float weights
    state = edited(tmp_path, "spinnaker2", "state_bits = { value = 32,", "state_bits = { value = 1,", "s.toml")
    with pytest.raises(backends.BackendError, match="state_bits = 1.*32-bit word"):
        backends.get("spinnaker2").compile(graph, state)


def test_a_router_grid_beyond_the_memory_budget_is_refused_before_allocating(tmp_path, capsys, model_file,
                                                                             monkeypatch):
    path = edited(tmp_path, "loihi", "router_grid = { value = [8, 4]", "router_grid = { value = [1000000, 1000000]")
    msg = bad(capsys, "partition", model_file, "--target", path, names="chip.router_grid")
    assert "1,000,000 x 1,000,000 router grid needs" in msg and "more than the memory limit of" in msg
    monkeypatch.setenv("NEUROMAP_MAX_MEMORY", "1K")  # the budget is the limit, not a fixed grid size
    with pytest.raises(targets.TargetError, match=r"needs .* more than the memory limit of 1 KiB \(\$NEUROMAP_MAX_MEMORY\)"):
        targets.load("loihi")
    code, _, err = run_cli(capsys, "targets", "loihi", "--max-memory", "1K")  # the command line's limit too
    assert code == 2 and "memory limit of 1 KiB (--max-memory)" in err, err


def test_a_directory_given_as_the_target_is_named_a_directory(tmp_path, capsys, model_file):
    folder = tmp_path / "chips"
    folder.mkdir()
    with pytest.raises(targets.TargetError, match="is a directory, not a target file"):
        targets.load(folder)
    bad(capsys, "partition", model_file, "--target", folder, names="is a directory")


def test_a_target_nested_too_deep_or_too_large_is_refused_as_bad_input(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(targets.TargetError, match="deep.toml: not valid TOML"):
        targets.load(deep)


def test_a_backend_refuses_a_target_kind_it_cannot_run_naming_both(capsys, model_file):
    msg = bad(capsys, "deploy", model_file, "--backend", "loihi", "--target", "crossbar-pcm", "--dataset", "digits",
              "--samples", 2, names="crossbar-pcm")
    assert "backend 'loihi' cannot run target 'crossbar-pcm': it is a crossbar target, and loihi runs digital" in msg
    for name, target in (("spinnaker2", "gpu-a100"), ("crossbar", "loihi2"), ("torch", "spinnaker2")):
        with pytest.raises(backends.BackendError, match=f"backend '{name}' cannot run target '{target}'"):
            backends.get(name).compile(nm.load(model_file), target)
