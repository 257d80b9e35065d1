import math

import pytest

from neuromap.neurons import CubaLIFParams, LIFParams, decay_from_tau, params_from_dict, tau_from_decay


def test_decay_round_trip_exp_and_euler():
    for integ in ("exp", "euler"):
        beta = decay_from_tau(20e-3, 1e-3, integ)
        assert math.isclose(tau_from_decay(beta, 1e-3, integ), 20e-3, rel_tol=1e-12)
    assert math.isclose(decay_from_tau(20e-3, 1e-3, "exp"), math.exp(-1 / 20))
    assert math.isclose(decay_from_tau(2.0, 1.0, "euler"), 0.5)  # SpikingJelly tau = 2


def test_from_decay_gives_the_requested_beta():
    p = LIFParams.from_decay(0.9)
    assert math.isclose(p.beta, 0.9, rel_tol=1e-12)
    c = CubaLIFParams.from_decays(alpha=0.8, beta=0.9)
    assert math.isclose(c.alpha, 0.8, rel_tol=1e-12) and math.isclose(c.beta, 0.9, rel_tol=1e-12)


def test_input_gain_decay_input():
    p = LIFParams.from_decay(0.75, decay_input=True)
    assert math.isclose(p.input_gain, 0.25)
    assert LIFParams().input_gain == 1.0


def test_dict_round_trip():
    p = CubaLIFParams(tau_mem=0.02, tau_syn=0.004, reset="zero", refractory_steps=2, v_reset=-0.1)
    assert params_from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tau_mem": 0.0}, "tau_mem"),
        ({"tau_mem": -1e-3}, "tau_mem"),
        ({"dt": float("nan")}, "dt"),
        ({"reset": "hard"}, "reset='hard'.*subtract"),
        ({"integrator": "rk4"}, "integrator"),
        ({"threshold_rule": "=>"}, "threshold_rule"),
        ({"refractory_steps": -1}, "refractory_steps"),
        ({"v_th": float("inf")}, "v_th"),
        ({"reset": "none", "reset_delay": True}, "reset_delay"),
        ({"reset": "zero", "reset_signal": "membrane"}, "reset_signal"),
        ({"tau_mem": 0.5e-3, "integrator": "euler"}, "Euler"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LIFParams(**kwargs)


def test_bad_tau_syn():
    with pytest.raises(ValueError, match="tau_syn"):
        CubaLIFParams(tau_syn=0)


def test_tau_from_decay_rejects_out_of_range():
    for decay, integrator in ((1.5, "exp"), (0.0, "exp"), (-0.1, "euler")):
        with pytest.raises(ValueError, match="decay"):
            tau_from_decay(decay, 1e-3, integrator)


def test_no_leak_and_no_memory_are_the_limits_of_the_decay():
    """decay 1 is tau = inf (NIR's IF / I), Euler decay 0 is tau = dt (NIR's Threshold)."""
    assert tau_from_decay(1.0, 1e-3) == math.inf and LIFParams(tau_mem=math.inf).beta == 1.0
    assert LIFParams.from_decay(0.0, dt=1e-3, integrator="euler").beta == 0.0
