import argparse
import dataclasses
from pathlib import Path

import pytest

from neuromap import targets
from neuromap.targets import TargetError, load

SHIPPED = ["cpu", "crossbar-pcm", "crossbar-rram", "gpu-a100", "gpu-h100", "loihi", "loihi2", "sdt-45nm", "sfq",
           "spinnaker2"]


def test_available_lists_shipped_targets():
    assert targets.available() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_figure_has_provenance(name):
    t = load(name)
    assert t.kind in targets.kinds()
    n = 0
    for key, fig in t.figures():
        n += 1
        if fig.known:
            assert fig.source.strip(), key
            assert fig.confidence in targets.CONFIDENCE, key
            assert fig.unit in targets.UNITS, key
        else:
            assert fig.missing.strip(), key  # a missing figure says why
    assert n >= 4


def test_key_figures_match_research_note():
    loihi = load("loihi")
    assert loihi.core.max_neurons.value == 1024
    assert loihi.core.max_axons_in.value == 4096
    assert loihi.core.synapse_mem_bits.value == 16384 * 64
    assert loihi.energy.e_synop.value == pytest.approx(23.6e-12)
    assert loihi.energy.e_synop.confidence == "H"
    s2 = load("spinnaker2")
    assert s2.chip.cores_per_chip.value == 152
    assert len(s2.chip.router_positions.value) * s2.chip.cores_per_router.value == 152  # 38 QPEs x 4 PEs
    assert s2.core.memory_bits.value == 128 * 1024 * 8
    assert not s2.core.max_neurons.known and "SRAM" in s2.core.max_neurons.missing
    assert s2.energy.p_chip_typ.estimate
    l2 = load("loihi2")
    assert l2.energy.e_synop.estimate and l2.energy.e_synop.confidence == "L"
    assert load("crossbar-pcm").tile.rows.value == 256
    assert load("gpu-h100").energy.p_max.value == 700.0


def test_target_is_frozen():
    t = load("loihi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.name = "x"
    with pytest.raises(AttributeError):
        t.core.max_neurons = 5
    with pytest.raises(TypeError):
        t.core._figures["max_neurons"] = 5


def test_unknown_target_lists_known():
    with pytest.raises(TargetError, match="unknown target 'loihi3'.*spinnaker2"):
        load("loihi3")


def _edit(tmp_path: Path, old: str, new: str, name: str = "custom.toml") -> Path:
    text = (targets.folder() / "loihi.toml").read_text()
    assert old in text
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def test_user_toml_loads_like_shipped(tmp_path):
    p = _edit(tmp_path, 'max_neurons = { value = 1024,', 'max_neurons = { value = 512,')
    t = load(p)
    assert t.core.max_neurons.value == 512 and t.path == str(p)
    assert load(str(p)).core.max_neurons.value == 512


@pytest.mark.parametrize(
    "old,new,match",
    [
        ('max_neurons = { value = 1024, unit = "1", ', 'max_neurons = { unit = "1", ',
         r"core\.max_neurons: missing field 'value'"),
        ('max_neurons = { value = 1024,', 'max_neurons = { value = -1024,', r"core\.max_neurons: .*negative"),
        ('max_neurons = { value = 1024,', 'max_neurons = { value = "many",', r"core\.max_neurons: expected an integer"),
        ('e_synop = { value = 23.6e-12, unit = "J"', 'e_synop = { value = 23.6e-12, unit = "pJ"', r"energy\.e_synop: unit"),
        ('e_synop = { value = 23.6e-12, unit = "J"', 'e_synop = { value = 23.6e-12, unit = "W"',
         r"energy\.e_synop: unit must be 'J'"),
        ('confidence = "H" }\nsynapse_mem_bits', 'confidence = "X" }\nsynapse_mem_bits', r"core\.max_neurons: confidence"),
        ('kind = "digital"', 'kind = "quantum"', r"kind: 'quantum'"),
    ],
)
def test_bad_toml_names_field_and_file(tmp_path, old, new, match):
    p = _edit(tmp_path, old, new)
    with pytest.raises(TargetError, match=match) as e:
        load(p)
    assert str(p) in str(e.value)


def test_required_field_absent(tmp_path):
    text = (targets.folder() / "loihi.toml").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("cores_per_chip")]
    p = tmp_path / "nocores.toml"
    p.write_text("\n".join(lines))
    with pytest.raises(TargetError, match=r"nocores\.toml: chip\.cores_per_chip: required"):
        load(p)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(TargetError, match="does not exist"):
        load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(TargetError, match="not valid TOML"):
        load(bad)


def test_targets_command_lists_all(capsys):
    from neuromap.cli.targets import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["targets"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out
    args = parser.parse_args(["targets", "loihi"])
    assert args.func(args) == 0
    assert "Davies 2018 Table 2" in capsys.readouterr().out
    from neuromap import cli

    assert cli.main(["targets", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("name", SHIPPED)
def test_no_figure_cites_files_outside_the_repository(name):
    """Every figure cites a publication or code, never the project's private research notes."""
    text = (targets.folder() / f"{name}.toml").read_text()
    for bad in ("../shared", "/work/shared", "hardware-figures", "shared/research"):
        assert bad not in text, f"{name}.toml cites {bad!r}"
