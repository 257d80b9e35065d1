import pytest
import torch

from neuromap import data
from neuromap.data import encoding


def test_rate_encoding_statistics_and_determinism():
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    s1 = encoding.rate(x, 4000, seed=3)
    s2 = encoding.rate(x, 4000, seed=3)
    assert torch.equal(s1, s2)
    assert not torch.equal(s1, encoding.rate(x, 4000, seed=4))
    torch.testing.assert_close(s1.mean(0)[0], x[0], atol=0.03, rtol=0)
    assert set(s1.unique().tolist()) <= {0.0, 1.0}


def test_latency_encoding_one_spike_earlier_for_larger_values():
    x = torch.tensor([[1.0, 0.5, 0.0]])
    s = encoding.latency(x, 11)
    assert s[:, 0, 0].sum() == 1 and s[0, 0, 0] == 1
    assert s[5, 0, 1] == 1
    assert s[:, 0, 2].sum() == 0


def test_current_and_delta():
    x = torch.rand(2, 3)
    c = encoding.current(x, 5)
    assert c.shape == (5, 2, 3) and torch.equal(c[3], x)
    sig = torch.tensor([0.0, 0.05, 0.2, 0.2, 0.0]).reshape(5, 1)
    d = encoding.delta(sig, threshold=0.1)
    assert d[:, 0, 0].tolist() == [0, 0, 1, 0, 0]
    assert d[:, 0, 1].tolist() == [0, 0, 0, 0, 1]


def test_encoders_reject_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        encoding.rate(torch.tensor([float("nan")]), 3)
    with pytest.raises(ValueError, match="steps"):
        encoding.rate(torch.rand(2), 0)
    with pytest.raises(ValueError, match="encoding='morse'"):
        encoding.encode(torch.rand(2), "morse", 3)


def test_digits_shapes_split_and_determinism():
    d = data.digits(encoding="rate", steps=10, seed=1)
    assert d.x_train.shape[1:] == (10, 64) and d.n_classes == 10
    assert len(d.x_train) + len(d.x_test) == 1797
    assert abs(len(d.x_test) - 0.25 * 1797) < 2
    # stratified: every class in the test split
    assert set(d.y_test.tolist()) == set(range(10))
    d2 = data.digits(encoding="rate", steps=10, seed=1)
    assert torch.equal(d.x_train, d2.x_train)
    x, y = next(d.batches("train", 32))
    assert x.shape == (10, 32, 64) and y.shape == (32,)
    img = data.digits(encoding="current", steps=2, flatten=False)
    assert img.x_train.shape[1:] == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="split"):
        next(d.batches("valid"))


def test_synthetic_tasks():
    r = data.delayed_recall(n_samples=100, delay=7, n_symbols=3, seed=2)
    x, y = r.x_train, r.y_train
    assert x.shape[1:] == (8, 4)
    assert torch.equal(x[:, 0, :3].argmax(-1), y)
    assert (x[:, -1, 3] == 1).all()
    a = data.adding_problem(n_samples=200, length=20, seed=0)
    xa, ya = a.x_train, a.y_train
    assert torch.allclose((xa[..., 0] * xa[..., 1]).sum(1), ya)
    assert (xa[..., 1].sum(1) == 2).all() and a.task == "regression"
    assert torch.equal(data.adding_problem(50, 20, seed=5).x_train, data.adding_problem(50, 20, seed=5).x_train)
