"""neuromap's Loihi emulator reproduces Lava's Loihi2SimCfg(select_tag="fixed_pt") bit-exactly:
spikes, current u and voltage v at every time step, over 50 random networks (feed-forward and
recurrent, parameters over their legal ranges, saturating and wrapping cases included)."""

import numpy as np
import pytest
import scipy.sparse as sp

from neuromap.backends.loihi import LoihiConnection, LoihiLIF, LoihiNetwork
from neuromap.backends.loihi import fixed_point as fx

pytest.importorskip("lava")
from neuromap.backends.lava_runner import run_lava  # noqa: E402


def random_network(seed: int) -> tuple[LoihiNetwork, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 40))
    sizes = [int(rng.integers(1, 30)) for _ in range(int(rng.integers(1, 4)))]
    pops, conns, prev = [], [], ("in", n_in)
    for k, n in enumerate(sizes):
        big_threshold = seed % 3 == 0
        pops.append(
            LoihiLIF(
                f"p{k}", n,
                du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n),
                vth=rng.integers(0, 2**17, n) if big_threshold else rng.integers(0, 2000, n),
                bias_mant=rng.integers(-4095, 4096, n) if seed % 4 == 0 else 0,
                bias_exp=rng.integers(0, 8, n),
            )
        )
        w = rng.integers(-256, 256, (n, prev[1])) if seed % 2 else rng.integers(0, 256, (n, prev[1]))
        if seed % 5 == 0:
            w = sp.csr_matrix(np.where(rng.random(w.shape) < 0.3, w, 0))
        conns.append(LoihiConnection(prev[0], f"p{k}", w, weight_exp=int(rng.integers(-8, 8)),
                                     num_weight_bits=int(rng.integers(1, 9))))
        if rng.random() < 0.5:  # recurrent
            conns.append(LoihiConnection(f"p{k}", f"p{k}", rng.integers(-256, 256, (n, n)),
                                         weight_exp=int(rng.integers(-3, 8))))
        prev = (f"p{k}", n)
    x = rng.random((40, 1, n_in)) < rng.random()
    return LoihiNetwork({"in": n_in}, pops, conns), x


def test_emulator_equals_lava_on_50_random_networks():
    wrapped = saturated = spiked = recurrent = 0
    for seed in range(50):
        net, x = random_network(seed)
        ours = net.run({"in": x})
        lava = run_lava(net, {"in": x})
        for p in net.populations:
            assert np.array_equal(ours.spikes[p.name], lava.spikes[p.name]), f"seed {seed} {p.name}: spikes differ"
            assert np.array_equal(ours.u[p.name], lava.u[p.name]), f"seed {seed} {p.name}: u differs"
            assert np.array_equal(ours.v[p.name], lava.v[p.name]), f"seed {seed} {p.name}: v differs"
        u_max = max(np.abs(ours.u[p.name]).max() for p in net.populations)
        v_max = max(np.abs(ours.v[p.name]).max() for p in net.populations)
        wrapped += u_max > fx.MAX_UV // 2
        saturated += v_max == fx.MAX_UV - 1
        spiked += any(ours.spikes[p.name].any() for p in net.populations)
        recurrent += any(c.src == c.dst for c in net.connections)
    # the random set must exercise the hard cases, not just quiet networks
    assert spiked >= 30 and recurrent >= 10 and saturated >= 3 and wrapped >= 3, (spiked, recurrent, saturated, wrapped)


def test_current_wraps_and_voltage_saturates_as_in_lava():
    u = np.array([fx.MAX_UV - 10, -fx.MAX_UV + 5], dtype=np.int64)
    a = np.array([1, -1], dtype=np.int64)  # << 6 pushes both past the 24-bit range
    u2, v2, _ = fx.lif_step(u, np.zeros(2, np.int64), a, np.zeros(2, np.int64), np.zeros(2, np.int64),
                            np.full(2, 2**17 - 1), np.zeros(2, np.int64))
    # du = 0 -> factor 4095/4096 decay of the current first, then + 64 and the wrap into (-2^23, 2^23]
    dec = np.sign(u * 4095) * (np.abs(u * 4095) >> 12)
    expected = dec + np.array([64, -64])
    expected = np.where(expected > fx.MAX_UV, expected - 2 * fx.MAX_UV, expected)
    expected = np.where(expected <= -fx.MAX_UV, expected + 2 * fx.MAX_UV, expected)
    assert np.array_equal(u2, expected)
    low = fx.lif_step(np.full(1, -fx.MAX_UV + 1, np.int64), np.full(1, -fx.MAX_UV + 1, np.int64),
                      np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), np.full(1, 10),
                      np.zeros(1, np.int64))[1]
    assert low[0] == -fx.MAX_UV + 1  # the voltage saturates at -(2^23 - 1) instead of wrapping


def test_weight_truncation_matches_lava_rules():
    w = np.array([[300, -300, 3, -3, 255]])
    assert fx.effective_weights(w, 8).tolist() == [[254, -256, 2, -4, 254]]  # mixed: 8 bits incl. sign
    assert fx.effective_weights(np.array([[300, 3, 255]]), 8).tolist() == [[255, 3, 255]]  # excitatory
    assert fx.effective_weights(np.array([[255, 17]]), 4).tolist() == [[240, 16]]


def test_bad_network_definitions():
    with pytest.raises(ValueError, match="du"):
        LoihiLIF("x", 3, du=5000)
    with pytest.raises(ValueError, match="weights shape"):
        LoihiNetwork({"in": 2}, [LoihiLIF("a", 3)], [LoihiConnection("in", "a", np.zeros((2, 2)))])
    with pytest.raises(ValueError, match="weight_exp"):
        LoihiConnection("in", "a", np.zeros((2, 2)), weight_exp=9)
    net = LoihiNetwork({"in": 2}, [LoihiLIF("a", 3)], [LoihiConnection("in", "a", np.ones((3, 2)))])
    with pytest.raises(ValueError, match=r"\[T, B, 2\]"):
        net.run({"in": np.zeros((4, 2))})


def _same_as_lava(net: LoihiNetwork, x: np.ndarray):
    ours, lava = net.run({"in": x}), run_lava(net, {"in": x})
    for p in net.populations:
        assert np.array_equal(ours.u[p.name], lava.u[p.name]), (p.name, ours.u[p.name].ravel()[:4])
        assert np.array_equal(ours.v[p.name], lava.v[p.name]), p.name
        assert np.array_equal(ours.spikes[p.name], lava.spikes[p.name]), p.name
    return ours


def test_int32_overflow_of_the_current_matches_lava():
    """Issue 16 item 10a: 1,100 inputs at weight 255, weight_exp 7, one spike each: ``a_in << 6``
    passes 2^31, so Lava's int32 arithmetic wraps; the emulator must too (it kept int64 before)."""
    n = 1100
    net = LoihiNetwork({"in": n}, [LoihiLIF("p", 1, du=0, dv=0, vth=100)],
                       [LoihiConnection("in", "p", np.full((1, n), 255), weight_exp=7)])
    x = np.zeros((3, 1, n), bool)
    x[0] = True
    ours = _same_as_lava(net, x)
    assert ours.u["p"][1, 0, 0] == -1_980_334_080  # Lava's value: int32 wrap, then one +2^24
    assert not ours.spikes["p"].any()


def test_two_connections_add_in_int32_as_in_lava():
    n = 600
    conns = [LoihiConnection("in", "p", np.full((1, n), 255), weight_exp=7) for _ in range(2)]
    net = LoihiNetwork({"in": n}, [LoihiLIF("p", 1, du=100, dv=0, vth=100)], conns)
    x = np.zeros((3, 1, n), bool)
    x[0] = True
    _same_as_lava(net, x)


def test_sign_mode_given_explicitly_matches_lava():
    """Item 10b: MIXED drops the low bit of odd weights even when all are positive; EXCITATORY
    clips negative weights to 0; both as Lava's Dense and Sparse do."""
    w = np.array([[3, 5, 255, 0], [-7, 9, 1, 2]])
    assert fx.effective_weights(np.array([[3, 5, 255]]), 8, "mixed").tolist() == [[2, 4, 254]]
    assert fx.effective_weights(np.array([[-7, 9]]), 8, "excitatory").tolist() == [[0, 9]]
    x = np.random.default_rng(0).random((12, 1, 4)) < 0.6
    for mode in ("mixed", "excitatory", "inhibitory"):
        for weights in (w, sp.csr_matrix(w)):
            net = LoihiNetwork({"in": 4}, [LoihiLIF("p", 2, du=300, dv=200, vth=3)],
                               [LoihiConnection("in", "p", weights, weight_exp=2, sign_mode=mode)])
            _same_as_lava(net, x)
    with pytest.raises(ValueError, match="sign_mode"):
        LoihiConnection("in", "p", w, sign_mode="positive")


def test_bias_mant_range_is_lavas():
    """Item 10d: Lava allows bias_mant -4096..4095 (13-bit signed)."""
    net = LoihiNetwork({"in": 1}, [LoihiLIF("p", 2, du=0, dv=10, vth=50, bias_mant=[-4096, 4095], bias_exp=[3, 1])],
                       [LoihiConnection("in", "p", np.zeros((2, 1)))])
    _same_as_lava(net, np.zeros((5, 1, 1), bool))
    with pytest.raises(ValueError, match="bias_mant"):
        LoihiLIF("q", 1, bias_mant=-4097)


def delayed_network(seed: int) -> tuple[LoihiNetwork, np.ndarray]:
    """Random layers whose connections have per-synapse delays (Lava's DelayDense; a connection with
    one scalar delay too) and whose compartments start from random u / v."""
    rng = np.random.default_rng(1000 + seed)
    n_in = int(rng.integers(1, 20))
    sizes = [int(rng.integers(1, 16)) for _ in range(int(rng.integers(1, 3)))]
    pops, conns, prev = [], [], ("in", n_in)
    for k, n in enumerate(sizes):
        pops.append(LoihiLIF(f"p{k}", n, du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n),
                             vth=rng.integers(0, 2000, n), bias_mant=rng.integers(-100, 100, n) if seed % 2 else 0,
                             u0=rng.integers(-2**20, 2**20, n), v0=rng.integers(-2**16, 2**16, n)))
        w = rng.integers(-256, 256, (n, prev[1]))
        delays = rng.integers(0, 8, (n, prev[1])) if seed % 3 else int(rng.integers(1, 5))
        conns.append(LoihiConnection(prev[0], f"p{k}", w, weight_exp=int(rng.integers(-2, 6)),
                                     num_weight_bits=int(rng.integers(2, 9)), delays=delays))
        if rng.random() < 0.5:  # recurrent, delayed
            conns.append(LoihiConnection(f"p{k}", f"p{k}", rng.integers(-256, 256, (n, n)), weight_exp=2,
                                         delays=rng.integers(0, 4, (n, n))))
        prev = (f"p{k}", n)
    x = rng.random((30, 1, n_in)) < 0.4
    return LoihiNetwork({"in": n_in}, pops, conns), x


def test_emulator_equals_lava_delaydense_and_initial_states_on_20_random_networks():
    spiked = 0
    for seed in range(20):
        net, x = delayed_network(seed)
        ours = net.run({"in": x})
        lava = run_lava(net, {"in": x})
        for p in net.populations:
            for what in ("spikes", "u", "v"):
                assert np.array_equal(getattr(ours, what)[p.name], getattr(lava, what)[p.name]), \
                    f"seed {seed} {p.name}: {what} differs"
        spiked += any(ours.spikes[p.name].any() for p in net.populations)
    assert spiked >= 10


def test_synaptic_delay_shifts_arrival_by_its_steps():
    w = np.full((1, 1), 100)
    x = np.zeros((10, 1, 1), bool)
    x[0] = True
    arrivals = []
    for d in (0, 3):
        net = LoihiNetwork({"in": 1}, [LoihiLIF("p", 1, du=4095, dv=4095, vth=2**17 - 1)],
                           [LoihiConnection("in", "p", w, delays=d)])
        arrivals.append(int(np.nonzero(net.run({"in": x}).u["p"][:, 0, 0])[0][0]))
    assert arrivals == [1, 4]


def test_delays_and_initial_states_are_checked():
    with pytest.raises(ValueError, match=r"delays must be integers in \[0, 63\]"):
        LoihiConnection("a", "b", np.ones((2, 2)), delays=64)
    with pytest.raises(ValueError, match="weights' shape"):
        LoihiConnection("a", "b", np.ones((2, 2)), delays=np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="v0 must lie in"):
        LoihiLIF("p", 2, v0=2**23)
