"""Crossbar device models, tiling, periphery and layers (neuromap.crossbar)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neuromap import targets
from neuromap.crossbar import (
    CrossbarConfig,
    CrossbarConv2d,
    CrossbarLinear,
    PCMModel,
    RampADC,
    RRAMModel,
    TileLayout,
    adc,
    compile_conv,
    compile_matrix,
    hwa_weight_noise,
    input_planes,
    layer_counters,
    program_model,
    read_at,
    stuck_at,
    to_conductances,
    to_crossbar,
)
from neuromap.netlist import ConvGeometry
from neuromap.networks import SpikingMLP


def _folded_normal(mu: torch.Tensor, sig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of |N(mu, sig)|."""
    z = mu / sig
    phi = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    mean = sig * math.sqrt(2 / math.pi) * torch.exp(-0.5 * z**2) + mu * (1 - 2 * (1 - Phi))
    var = mu**2 + sig**2 - mean**2
    del phi
    return mean, var.sqrt()


# --- devices -------------------------------------------------------------------------------------

def test_pcm_from_target_matches_spec():
    t = targets.load("crossbar-pcm")
    m = PCMModel.from_target(t)
    assert m.g_max == t.get("device.g_max") and m.t0 == t.get("device.t0") and m.t_read == t.get("device.t_read")
    assert list(m.prog_coeff) == t.get("device.prog_coeff")
    assert m == PCMModel()  # the documented defaults equal the spec


@pytest.mark.parametrize("g_rel", [0.1, 0.3, 0.6, 1.0])
def test_pcm_programming_noise_statistics(g_rel):
    m = PCMModel()
    n = 200_000
    g_t = torch.full((n,), g_rel * m.g_max, dtype=torch.float64)
    g = m.program(g_t, torch.Generator().manual_seed(1))
    sig_us = 0.26348 + 1.9650 * g_rel - 1.1731 * g_rel**2  # aihwkit polynomial, uS
    se_mean = sig_us / math.sqrt(n)
    assert abs(float(g.mean()) / 1e-6 - g_rel * 25.0) < 4 * se_mean
    assert abs(float(g.std()) / 1e-6 - sig_us) < 4 * sig_us / math.sqrt(2 * n)


@pytest.mark.parametrize("g_rel", [0.01, 0.1, 0.5, 1.0])
def test_pcm_drift_exponent_statistics(g_rel):
    m = PCMModel()
    n = 200_000
    g_t = torch.full((n,), g_rel * m.g_max, dtype=torch.float64)
    nu = m.drift_exponents(g_t, torch.Generator().manual_seed(2))
    mu = min(max(-0.0155 * math.log(g_rel) + 0.0244, 0.049), 0.1)
    sd = min(max(-0.0125 * math.log(g_rel) - 0.0059, 0.008), 0.045)
    fm, fs = _folded_normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(sd, dtype=torch.float64))
    assert abs(float(nu.mean()) - float(fm)) < 4 * float(fs) / math.sqrt(n)
    assert abs(float(nu.std()) - float(fs)) < 4 * float(fs) / math.sqrt(2 * n) + 1e-4 * float(fs)
    assert (nu >= 0).all()


def test_pcm_drift_and_read_noise():
    m = PCMModel()
    n = 100_000
    g = torch.full((n,), 0.5 * m.g_max, dtype=torch.float64)
    nu = torch.full((n,), 0.05, dtype=torch.float64)
    t = 86400.0
    gd = m.drift(g, nu, t)
    assert torch.allclose(gd, g * ((t + 20.0) / 20.0) ** -0.05)
    assert torch.equal(m.drift(g, nu, 0.0), g)
    gr = m.read(g, nu, t, torch.Generator().manual_seed(3))
    q_s = min(0.0088 / 0.5**0.65, 0.2)
    sig = q_s * math.sqrt(math.log((t + 20.0 + 250e-9) / (2 * 250e-9)))
    rel = (gr - gd) / gd
    assert abs(float(rel.std()) - sig) < 4 * sig / math.sqrt(2 * n)
    assert abs(float(rel.mean())) < 4 * sig / math.sqrt(n)


def test_device_errors_and_seeding():
    m = PCMModel()
    g = torch.rand(10) * m.g_max
    with pytest.raises(ValueError, match="t_inference"):
        m.drift(g, torch.zeros(10), -1.0)
    with pytest.raises(ValueError, match="NaN"):
        m.program(torch.tensor([float("nan")]))
    a = m.program(g, torch.Generator().manual_seed(5))
    b = m.program(g, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    r = RRAMModel.from_target("crossbar-rram")
    assert r == RRAMModel()
    gr = r.read(r.program(torch.full((1000,), 50e-6), torch.Generator().manual_seed(0)), 3600.0,
                torch.Generator().manual_seed(1))
    assert float(gr.min()) >= r.g_min and float(gr.max()) <= r.g_max
    assert abs(float(gr.mean()) - (50e-6 - 0.08900206e-6 * math.log(3600.0))) < 0.2e-6
    u = r.program_unverified(torch.full((20000,), 40e-6), torch.Generator().manual_seed(0))
    assert 0.19 < float(u.std() / u.mean()) < 0.29  # d2d_rel = 0.24 (aihwkit ReRamSB w_max_dtod)


def test_stuck_at_rate():
    g = torch.full((100_000,), 1e-5)
    out, mask = stuck_at(g, 0.05, 0.0, 2e-5, 0.5, torch.Generator().manual_seed(0))
    assert abs(float(mask.float().mean()) - 0.05) < 0.005
    assert set(torch.unique(out[mask]).tolist()) == {0.0, float(torch.tensor(2e-5))}
    assert torch.equal(out[~mask], g[~mask])


# --- tiles and periphery -------------------------------------------------------------------------

def test_tile_layout_and_conductances():
    L = TileLayout(300, 600, 256, 256)
    assert (L.row_tiles, L.col_tiles, L.n_tiles) == (3, 2, 6)
    assert L.utilisation == pytest.approx(300 * 600 / (6 * 256 * 256))
    W = torch.randn(7, 5)
    cm = to_conductances(W, 0.0, 25e-6)
    assert (cm.g_pos >= 0).all() and ((cm.g_pos == 0) | (cm.g_neg == 0)).all()
    assert torch.allclose(cm.weight(), W, atol=1e-6)
    cm8 = to_conductances(W, 9e-6, 88.2e-6, weight_bits=8, cell_bits=1)
    assert cm8.g_pos.shape[0] == 7  # 7 magnitude bits in 1-bit cells
    levels = torch.unique(torch.cat([cm8.g_pos.flatten(), cm8.g_neg.flatten()]))
    assert len(levels) == 2
    step = float(W.abs().max()) / 127
    assert (cm8.weight() - W).abs().max() <= step / 2 + 1e-6
    with pytest.raises(ValueError, match="NaN or inf"):
        to_conductances(torch.tensor([[1.0, float("inf")]]), 0.0, 1.0)


def test_dac_adc():
    x = torch.linspace(-1, 1, 101)
    planes, w = input_planes(x, 8, 8)
    assert planes.shape[0] == 1
    assert (torch.einsum("p,pn->n", w, planes) - x).abs().max() <= 0.5 / 127 + 1e-7
    planes1, w1 = input_planes(x, 1, 8)
    assert planes1.shape[0] == 7 and set(torch.unique(planes1.abs()).tolist()) <= {0.0, 1.0}
    assert torch.allclose(torch.einsum("p,pn->n", w1, planes1), torch.einsum("p,pn->n", w, planes), atol=1e-6)
    y = torch.tensor([-20.0, -0.03, 0.0, 0.5, 11.0])
    q = adc(y, 8, 10.0)
    assert q[0] == -10.0 and q[-1] == 10.0
    assert (q[1:4] - y[1:4]).abs().max() <= 10.0 / 254 + 1e-6
    with pytest.raises(ValueError, match="bits"):
        adc(y, 0, 1.0)


def test_ramp_adc_activation():
    r = RampADC("sigmoid", 6, 6.0)
    y = torch.linspace(-5, 5, 1001)
    out = r(y)
    assert len(torch.unique(out)) <= 64
    step = float(r.levels[1] - r.levels[0])
    assert (out - torch.sigmoid(y)).abs().max() <= step / 2 + 1e-6
    assert torch.all(out[1:] >= out[:-1])  # monotone


# --- arrays and layers ---------------------------------------------------------------------------

def test_ideal_crossbar_linear_bit_identical():
    torch.manual_seed(0)
    lin = nn.Linear(300, 40)
    x_spk = (torch.rand(6, 3, 300) < 0.3).float()
    x_real = torch.randn(6, 3, 300)
    layer = CrossbarLinear.from_linear(lin, CrossbarConfig.ideal(rows=128, cols=32)).program(seed=0).eval()
    for x in (x_spk, x_real):
        assert torch.equal(layer(x), lin(x))
    assert layer.n_tiles == 3 * 2
    c = layer.counters.as_dict()
    assert c["mvms"] == 2 * 18 and c["adc_conversions"] == 2 * 18 * 3 * 40
    # the tiled analog path with ideal settings computes the same sums (float rounding only)
    tiled = CrossbarLinear.from_linear(lin, CrossbarConfig.ideal(rows=128, cols=32, fast_ideal=False)).program().eval()
    for x in (x_spk, x_real):
        torch.testing.assert_close(tiled(x), lin(x), rtol=1e-5, atol=1e-5)


def test_pcm_layer_noise_seeded_and_drift_compensation():
    torch.manual_seed(0)
    W = torch.randn(64, 200) * 0.2
    x = (torch.rand(50, 200) < 0.3).float()
    ref = x @ W.T
    base = CrossbarConfig.from_target("crossbar-pcm")
    errs = {}
    for comp in (None, "global"):
        cfg = base.replace(drift_compensation=comp)
        a = compile_matrix(W, cfg, seed=3, t_inference=3.1536e7)
        b = compile_matrix(W, cfg, seed=3, t_inference=3.1536e7)
        assert torch.equal(a(x), b(x))  # same seed, same numbers
        y = compile_matrix(W, cfg, seed=3, t_inference=3.1536e7)(x)
        errs[comp] = float((y - ref).norm() / ref.norm())
    assert errs[None] > 0.3  # one year of drift shrinks conductances by ~half
    assert errs["global"] < 0.25
    c = compile_matrix(W, base, seed=4, t_inference=0.0)(x)
    assert not torch.equal(c, compile_matrix(W, base, seed=3, t_inference=0.0)(x))
    arr = compile_matrix(W, base, seed=3, t_inference=1.0)
    g1 = arr.g.clone()
    arr.read_at(86400.0)
    assert float(arr.g.mean()) < float(g1.mean())  # drift lowers conductances
    with pytest.raises(ValueError, match="t_inference"):
        arr.read_at(-1.0)


def test_config_errors():
    with pytest.raises(ValueError, match="exceeds"):
        CrossbarConfig.from_target("crossbar-pcm", rows=512)
    with pytest.raises(ValueError, match="adc_bits"):
        CrossbarConfig.from_target("crossbar-pcm", adc_bits=0)
    with pytest.raises(ValueError, match="dac_bits"):
        CrossbarConfig(dac_bits=40)
    with pytest.raises(ValueError, match="NaN or inf"):
        compile_matrix(torch.tensor([[float("nan")]]), CrossbarConfig.ideal())
    with pytest.raises(ValueError, match="digital target without crossbar tiles"):
        CrossbarConfig.from_target("loihi")


def test_ir_drop_and_faults_change_outputs():
    torch.manual_seed(1)
    W = torch.rand(32, 128)
    x = torch.ones(4, 128)
    ref = compile_matrix(W, CrossbarConfig.ideal(rows=128, cols=32, fast_ideal=False))(x)
    drop = compile_matrix(W, CrossbarConfig.ideal(rows=128, cols=32, ir_drop=0.2))(x)
    assert (drop < ref).all() and (drop > 0.7 * ref).all()
    stuck = compile_matrix(W, CrossbarConfig.ideal(rows=128, cols=32, stuck_rate=0.1), seed=0)
    assert stuck.stuck_mask.float().mean() > 0.05
    assert not torch.allclose(stuck(x), ref)


def test_rram_bit_sliced_layer():
    torch.manual_seed(2)
    W = torch.randn(20, 100) * 0.3
    x = (torch.rand(30, 100) < 0.3).float()
    cfg = CrossbarConfig.from_target("crossbar-rram", out_bound=8.0)
    a = compile_matrix(W, cfg, seed=0, t_inference=1.0)
    y = a(x)
    ref = x @ W.T
    assert a.layout.slices == 7
    assert float((y - ref).norm() / ref.norm()) < 0.1
    clipped = compile_matrix(W, cfg.replace(out_bound=2.0), seed=0, t_inference=1.0)(x)
    assert float((clipped - ref).norm() / ref.norm()) > 0.3  # ADC range clipping
    assert a.counters.adc_conversions == 30 * a.layout.row_tiles * 20 * 7
    xr = torch.rand(30, 100)  # non-binary inputs: 1-bit DAC, 8-bit inputs -> 7 bit-serial planes
    a.counters.reset()
    a(xr)
    assert a.counters.tile_reads == 30 * 7 * a.layout.n_tiles


def test_conv_crossbar_matches_conv2d():
    torch.manual_seed(3)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    x = (torch.rand(2, 3, 4, 9, 9) < 0.4).float()  # [T, B, C, H, W]
    geo = ConvGeometry((4, 9, 9), (6, 5, 5), (3, 3), (2, 2), (1, 1), (1, 1), 2)
    xc = compile_conv(conv.weight.detach(), geo, CrossbarConfig.ideal(rows=16, cols=8, fast_ideal=False),
                      bias=conv.bias.detach())
    ref = conv(x.reshape(6, 4, 9, 9)).reshape(2, 3, 6, 5, 5)
    torch.testing.assert_close(xc(x), ref, rtol=1e-5, atol=1e-5)
    assert sum(a.counters.vectors for a in xc.arrays) == 2 * 3 * 25 * 2
    assert xc.arrays[0].layout.n_in == 2 * 9 and xc.arrays[0].layout.row_tiles == 2
    xl = CrossbarConv2d.from_conv(conv, CrossbarConfig.ideal()).program().eval()
    assert torch.equal(xl(x[0]), conv(x[0]))


def test_to_crossbar_spiking_mlp_and_hwa():
    torch.manual_seed(4)
    model = SpikingMLP(16, [32], 4)
    x = (torch.rand(10, 5, 16) < 0.4).float()
    ideal = to_crossbar(model, CrossbarConfig.ideal()).eval()
    assert torch.equal(ideal(x), model.eval()(x))
    assert set(layer_counters(ideal)) == {"0", "2"}
    assert layer_counters(ideal)["0"]["vectors"] == 50
    pcm = CrossbarConfig.from_target("crossbar-pcm", hwa_noise=2.0)
    xm = to_crossbar(model, pcm, program=False)
    xm.train()
    first = xm[0]
    o1, o2 = first(x), first(x)
    assert not torch.equal(o1, o2)  # fresh device noise per training forward
    o1.sum().backward()
    assert first.weight.grad is not None
    xm.eval()
    with pytest.raises(RuntimeError, match="not programmed"):
        xm(x)
    program_model(xm, seed=1, t_inference=1.0)
    out = xm(x)
    with torch.no_grad():
        first.weight.add_(0.1)
    with pytest.raises(RuntimeError, match="changed since programming"):
        xm(x)
    program_model(xm, seed=1)
    read_at(xm, 3600.0)
    assert out.shape == (10, 5, 4)
    noise = hwa_weight_noise(torch.ones(100, 100), pcm, torch.Generator().manual_seed(0))
    sig = 2.0 * math.sqrt((0.26348 + 1.9650 - 1.1731) ** 2 + 0.26348**2) / 25.0
    assert abs(float(noise.std()) - sig) < 0.05 * sig


def test_hwa_device_model_noise_is_the_inference_draw():
    w = torch.randn(32, 48, generator=torch.Generator().manual_seed(1))
    cfg = CrossbarConfig.from_target("crossbar-pcm", hwa_noise=1.0, hwa_t_inference=3.1536e7)
    n1 = hwa_weight_noise(w, cfg, torch.Generator().manual_seed(5))
    n2 = hwa_weight_noise(w, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(n1, n2) and n1.shape == w.shape
    rel = float(n1.std() / w.abs().max())
    early = hwa_weight_noise(w, cfg.replace(hwa_t_inference=1.0), torch.Generator().manual_seed(5))
    assert 0.005 < float(early.std() / w.abs().max()) < rel < 0.2  # drift spread and read noise grow with time
    g = hwa_weight_noise(w.reshape(32, 3, 4, 4), cfg, torch.Generator().manual_seed(5), groups=2)
    assert g.shape == (32, 3, 4, 4)
    with pytest.raises(ValueError, match="needs a device model"):
        CrossbarConfig(hwa_noise=1.0, hwa_t_inference=1.0)
    with pytest.raises(ValueError, match="hwa_t_inference"):
        CrossbarConfig.from_target("crossbar-pcm", hwa_t_inference=-1.0)
