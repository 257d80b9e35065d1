"""Neuron dynamics: fused kernel == per-step autograd reference (values and gradients), closed
forms (constant-input rate, CuBa impulse response), surrogates, modules and bad input."""

import itertools
import math

import pytest
import torch

from neuromap.neurons import (
    LI,
    LIF,
    SURROGATES,
    CubaLIF,
    CubaLIFParams,
    LIFParams,
    Surrogate,
    kernels,
    neuron_sequence,
    neuron_sequence_reference,
)

CONFIGS = [
    c
    for c in itertools.product(
        [False, True],  # cuba
        ["subtract", "zero", "none"],
        [False, True],  # detach_reset
        [False, True],  # decay_input
        [0, 2],  # refractory steps
        [False, True],  # reset_delay
        [">", ">="],
    )
    if not (c[5] and (c[1] != "subtract" or c[4]))
]


def _params(cuba, reset, detach, decay_input, refractory, delay, rule):
    kw = dict(
        tau_mem=5e-3,
        dt=1e-3,
        reset=reset,
        detach_reset=detach,
        decay_input=decay_input,
        refractory_steps=refractory,
        reset_delay=delay,
        threshold_rule=rule,
        v_reset=0.1 if reset == "zero" else 0.0,
        v_leak=0.05,
    )
    return CubaLIFParams(tau_syn=3e-3, **kw) if cuba else LIFParams(**kw)


@pytest.mark.parametrize("impl", ["torch", "cpp"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_fused_equals_reference_values_and_gradients(config, seed, impl, request):
    """The hand-written BPTT equals per-step autograd in float64, every reset mode and option, in
    both implementations of the fused kernel (pure PyTorch loop and compiled C++)."""
    p = _params(*config)
    if impl == "cpp":
        request.getfixturevalue("cpp_kernels")  # built on first use; skipped loudly where it cannot be
    if impl == "cpp" and p.refractory_steps:
        with kernels.use("cpp"), pytest.raises(ValueError, match="refractory"):
            neuron_sequence(torch.ones(3, 2, 4, dtype=torch.float64), p, Surrogate())
        return
    cuba = config[0]
    g = torch.Generator().manual_seed(CONFIGS.index(config) * 10 + seed)
    x = ((torch.randn(12, 3, 4, generator=g, dtype=torch.float64) * 0.8 + 0.4) / p.input_gain).requires_grad_()
    beta = torch.full((4,), p.beta, dtype=torch.float64, requires_grad=True)
    v_th = torch.full((4,), 0.7, dtype=torch.float64, requires_grad=True)
    alpha = torch.full((4,), p.alpha, dtype=torch.float64, requires_grad=True) if cuba else None
    w_s = torch.randn(12, 3, 4, generator=g, dtype=torch.float64)
    w_v = torch.randn(12, 3, 4, generator=g, dtype=torch.float64)
    leaves = [x, beta, v_th] + ([alpha] if cuba else [])
    sur = Surrogate("fast_sigmoid", 5.0)
    results = []
    for fused in (True, False):
        kwargs = dict(beta=beta, v_th=v_th, alpha=alpha)
        if fused:
            with kernels.use(impl):  # the backward runs the implementation the forward chose
                s, v, st = neuron_sequence(x, p, sur, return_membrane=True, **kwargs)
        else:
            s, v, st = neuron_sequence_reference(x, p, sur, **kwargs)
        loss = (s * w_s).sum() + (v * w_v).sum() + 0.3 * st.v.sum()
        results.append((s.detach(), v.detach(), torch.autograd.grad(loss, leaves)))
    (s1, v1, g1), (s2, v2, g2) = results
    assert s1.sum() > 0, "the test input must make the neurons spike"
    assert torch.equal(s1, s2)
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("impl", ["torch", "cpp"])
def test_fused_gradient_to_initial_state(impl, request):
    if impl == "cpp":
        request.getfixturevalue("cpp_kernels")  # built on first use; skipped loudly where it cannot be
    p = CubaLIFParams.from_decays(0.8, 0.9)
    sur = Surrogate("atan")
    from neuromap.neurons import initial_state

    grads = []
    for fn in (neuron_sequence, neuron_sequence_reference):
        st = initial_state(p, (2, 3), torch.float64)
        v0 = st.v.clone().requires_grad_()
        i0 = st.i.clone().requires_grad_()
        x = torch.linspace(0, 1.5, 30, dtype=torch.float64).reshape(5, 2, 3)
        with kernels.use(impl):
            s, _, fin = fn(x, p, sur, st._replace(v=v0, i=i0))
        (s.sum() + fin.v.sum() + fin.i.sum()).backward()
        grads.append((v0.grad, i0.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


@pytest.mark.parametrize("x_in", [1.01, 1.5, 2.0, 3.0, 0.9])
@pytest.mark.parametrize("rule", [">", ">="])
def test_constant_input_rate_closed_form(x_in, rule):
    """SpikingJelly-form LIF (tau = 2 steps, Euler, decay_input, hard reset): ISI is
    ceil(ln(1 - v_th/X) / ln(1 - 1/tau)); at X = 2 the membrane hits v_th exactly at step 1,
    which spikes with '>=' but not with '>' (then one step later)."""
    p = LIFParams(tau_mem=2.0, dt=1.0, integrator="euler", decay_input=True, reset="zero", threshold_rule=rule)
    T = 420
    s, _, _ = neuron_sequence(torch.full((T, 1, 1), x_in, dtype=torch.float64), p, Surrogate())
    count = int(s.sum())
    if x_in <= 1.0:
        assert count == 0
        return
    # after a reset v[n] = X (1 - 0.5^n): the first n with v[n] (>=|>) 1
    n = 1
    while True:
        v = x_in * (1 - 0.5**n)
        if v > 1.0 or (rule == ">=" and v >= 1.0):
            break
        n += 1
    isi_formula = math.ceil(math.log(1 - 1.0 / x_in) / math.log(0.5))
    if not (x_in == 2.0 and rule == ">"):
        assert n == max(isi_formula, 1)
    assert count == T // n


def test_subtractive_if_rate_is_input_over_threshold():
    p = LIFParams(tau_mem=1e9, dt=1.0, reset="subtract")  # beta ~ 1: integrate-and-fire
    for current in (0.1, 0.37, 0.5):
        s, _, _ = neuron_sequence(torch.full((1000, 1, 1), current, dtype=torch.float64), p, Surrogate())
        assert abs(int(s.sum()) - 1000 * current) <= 1


def test_cuba_impulse_is_difference_of_exponentials():
    """Discrete: U[t] = (a^{t+1} - b^{t+1})/(a - b) (snnTorch form); exp integrator converges to
    the continuous tau_s/(tau_s - tau_m)(e^{-t/tau_s} - e^{-t/tau_m}) kernel."""
    a, b = 0.8, 0.9
    p = CubaLIFParams.from_decays(a, b, reset="none", v_th=1e9)
    x = torch.zeros(30, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    _, v, _ = neuron_sequence(x, p, Surrogate(), return_membrane=True)
    t = torch.arange(30, dtype=torch.float64)
    expected = (a ** (t + 1) - b ** (t + 1)) / (a - b)
    torch.testing.assert_close(v[:, 0, 0], expected, rtol=1e-12, atol=1e-14)
    assert int(v[:, 0, 0].argmax()) == 5  # peak at step 5 for alpha=0.8, beta=0.9

    tau_m, tau_s, dt = 10e-3, 5e-3, 1e-5
    pc = CubaLIFParams(tau_mem=tau_m, tau_syn=tau_s, dt=dt, reset="none", v_th=1e9, decay_input=True)
    steps = 6000
    x = torch.zeros(steps, 1, 1, dtype=torch.float64)
    x[0] = 1.0  # unit current kick: tau_s di/dt = -i, tau_m dv/dt = i - v
    _, v, _ = neuron_sequence(x, pc, Surrogate(), return_membrane=True)
    tt = (torch.arange(steps, dtype=torch.float64) + 1) * dt
    cont = tau_s / (tau_s - tau_m) * (torch.exp(-tt / tau_s) - torch.exp(-tt / tau_m))
    rel = (v[:, 0, 0] - cont).abs().max() / cont.abs().max()
    assert rel < 2e-2
    t_peak = tau_m * tau_s / (tau_s - tau_m) * math.log(tau_s / tau_m)
    assert abs(float(tt[v[:, 0, 0].argmax()]) - t_peak) < 2 * dt


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_surrogate_forward_binary_and_backward_formula(name):
    sur = Surrogate(name)
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    from neuromap.neurons import spike

    s = spike(x, sur)
    assert set(s.detach().unique().tolist()) <= {0.0, 1.0}
    s.sum().backward()
    k = sur.effective_slope
    xd = x.detach()
    formulas = {
        "fast_sigmoid": 1 / (k * xd.abs() + 1) ** 2,
        "superspike": 1 / (k * xd.abs() + 1) ** 2,
        "atan": (k / 2) / (1 + (math.pi / 2 * k * xd) ** 2),
        "sigmoid": k * torch.sigmoid(k * xd) * (1 - torch.sigmoid(k * xd)),
        "triangle": (1 - k * xd.abs()).clamp(min=0),
        "straight_through": torch.ones_like(xd),
    }
    torch.testing.assert_close(x.grad, formulas[name])


def test_surrogate_matches_finite_difference_of_smooth_primitive():
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    eps = 1e-6
    prim = {  # smooth functions whose derivative the surrogate is
        "sigmoid": lambda z: torch.sigmoid(4 * z),
        "atan": lambda z: torch.atan(math.pi / 2 * 2 * z) / math.pi,
        "fast_sigmoid": lambda z: z / (1 + 25 * z.abs()),
    }
    for name, f in prim.items():
        fd = (f(x + eps) - f(x - eps)) / (2 * eps)
        torch.testing.assert_close(Surrogate(name).grad(x), fd, rtol=1e-5, atol=1e-4)
    assert Surrogate("sigmoid").grad(torch.zeros(1)).item() == pytest.approx(1.0)
    assert Surrogate("atan").grad(torch.zeros(1)).item() == pytest.approx(1.0)


def test_modules_shapes_membrane_and_learnable_parameters():
    lif = LIF(beta=0.9, size=5, learn_beta=True, learn_threshold=True)
    x = torch.rand(7, 3, 5) * 2
    out = lif.simulate(x)
    assert out.spikes.shape == out.membrane.shape == (7, 3, 5)
    out.spikes.sum().backward()
    assert lif.beta.grad is not None and lif.v_th.grad is not None
    cuba = CubaLIF(alpha=0.8, beta=0.9, size=5, learn_alpha=True)
    s = cuba(torch.rand(7, 3, 5) * 2)
    s.sum().backward()
    assert cuba.alpha.grad is not None
    conv_like = LIF(beta=0.5)(torch.rand(4, 2, 3, 6, 6) * 3)
    assert conv_like.shape == (4, 2, 3, 6, 6)
    li = LI(beta=0.5)(torch.ones(3, 1, 2))
    torch.testing.assert_close(li[:, 0, 0], torch.tensor([1.0, 1.5, 1.75]))


def test_module_state_carries_across_calls():
    lif = LIF(beta=0.8)
    x = torch.rand(10, 2, 3) * 1.5
    whole = lif(x)
    first, st = lif(x[:4], return_state=True)
    second = lif(x[4:], state=st)
    assert torch.equal(torch.cat([first, second]), whole)


def test_reference_impl_option():
    x = torch.rand(6, 2, 3) * 2
    assert torch.equal(LIF(beta=0.7, impl="reference")(x), LIF(beta=0.7)(x))


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(5), "rank"),
        (torch.zeros(0, 2, 3), "empty time axis"),
        (torch.full((3, 2, 2), float("nan")), "NaN"),
        (torch.full((3, 2, 2), float("inf")), "NaN or inf"),
        (torch.ones(3, 2, 2, dtype=torch.long), "floating"),
    ],
)
def test_bad_input_is_a_clear_error(x, match):
    with pytest.raises(ValueError, match=match):
        LIF(beta=0.9)(x)


def test_bad_names():
    with pytest.raises(ValueError, match="surrogate='sigmod'"):
        LIF(beta=0.9, surrogate="sigmod")
    with pytest.raises(ValueError, match="reset='soft'"):
        LIF(beta=0.9, reset="soft")
    with pytest.raises(ValueError, match="impl"):
        LIF(beta=0.9, impl="cuda")
    with pytest.raises(ValueError, match="slope"):
        Surrogate("atan", slope=-1)


# snnTorch's reset semantics (neuromap.neurons.params): defined in the step, run by the per-step reference
SNNTORCH_SEMANTICS = [
    dict(reset="zero", reset_delay=True, detach_reset=True),  # Synaptic / RLeaky / RSynaptic zero reset
    dict(reset="subtract", reset_signal="membrane"),  # snnTorch's immediate reset
]


@pytest.mark.parametrize("semantics", SNNTORCH_SEMANTICS, ids=["zero-delayed", "membrane-signal"])
@pytest.mark.parametrize("cuba", [False, True])
def test_step_only_semantics_fall_back_to_the_step_reference_with_its_gradients(semantics, cuba):
    from neuromap.neurons import kernels
    from neuromap.neurons.functional import neuron_sequence, neuron_sequence_reference
    from neuromap.neurons.surrogate import as_surrogate

    cls = CubaLIFParams if cuba else LIFParams
    params = cls(tau_mem=10e-3, **({"tau_syn": 5e-3} if cuba else {}), **semantics)
    assert params.step_only is not None
    sur = as_surrogate("atan", 2.0)
    x = (torch.rand(40, 3, 6, generator=torch.Generator().manual_seed(0)) * 3).requires_grad_(True)
    beta = torch.full((6,), float(params.beta), requires_grad=True)
    s, v, _ = neuron_sequence(x, params, sur, beta=beta, return_membrane=True)
    (s.sum() + v.sum()).backward()
    g_x, g_beta = x.grad.clone(), beta.grad.clone()
    x.grad, beta.grad = None, None
    s_ref, v_ref, _ = neuron_sequence_reference(x, params, sur, beta=beta)
    (s_ref.sum() + v_ref.sum()).backward()
    assert s.sum() > 0 and torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert torch.equal(g_x, x.grad) and torch.equal(g_beta, beta.grad)
    if kernels.load() is not None:  # a forced compiled kernel says it does not implement them
        with kernels.use("cpp"), pytest.raises(ValueError, match="does not implement"):
            neuron_sequence(x.detach(), params, sur)


def test_snntorch_zero_reset_delayed_holds_the_membrane_for_one_step():
    """reset='zero', reset_delay=True: the step after a spike ends at v_reset whatever its input."""
    from neuromap.neurons.functional import neuron_sequence_reference
    from neuromap.neurons.surrogate import as_surrogate

    params = LIFParams.from_decay(0.5, reset="zero", reset_delay=True, integrator="euler")
    x = torch.tensor([2.0, 5.0, 0.5, 0.0]).reshape(4, 1, 1)
    s, v, _ = neuron_sequence_reference(x, params, as_surrogate("atan", 2.0))
    assert s.reshape(-1).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert v.reshape(-1).tolist() == [2.0, 0.0, 0.5, 0.25]
