"""Loaders for SHD/SSC, N-MNIST and DVS Gesture on small files written in each real format."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from neuromap import data
from neuromap.data import DatasetMissing, bin_events, dvsgesture, heidelberg, nmnist
from tests.support import write_shd


def test_bin_events_counts_and_drops_late_events():
    x = bin_events(np.array([0.0, 0.0015, 0.0019, 0.0105, 0.05]), np.array([0, 2, 2, 1, 0]), 3, dt=1e-3, steps=11,
                   binary=False)
    assert x.shape == (11, 3) and x.dtype == np.float32
    assert x[0, 0] == 1 and x[1, 2] == 2 and x[10, 1] == 1 and x.sum() == 4  # t = 50 ms is past 11 ms
    assert bin_events(np.array([0.0015, 0.0019]), np.array([2, 2]), 3, 1e-3, 2).max() == 1.0
    with pytest.raises(ValueError, match="channel indices"):
        bin_events(np.array([0.0]), np.array([3]), 3, 1e-3, 2)


@pytest.mark.parametrize("name", ["shd", "ssc"])
def test_heidelberg_hdf5(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    write_shd(folder / f"{name}_train.h5", [([0.0, 0.0125, 0.5], [0, 699, 3], 7), ([0.25], [10], 19)])
    write_shd(folder / f"{name}_test.h5", [([0.9990234375], [1], 2)])
    d = data.load(name, data_dir=tmp_path, dt=10e-3, duration=1.0)
    assert d.x_train.shape == (2, 100, 700) and d.x_test.shape == (1, 100, 700)
    assert d.y_train.tolist() == [7, 19] and d.n_classes == heidelberg.N_CLASSES[name]
    x = d.x_train[0]
    assert x[0, 0] == 1 and x[1, 699] == 1 and x[50, 3] == 1 and x.sum() == 3
    assert d.x_test[0, 99, 1] == 1
    xb, yb = next(d.batches("train", batch_size=2))
    assert xb.shape == (100, 2, 700)  # time-major
    coarse = data.load(name, data_dir=tmp_path, dt=0.5, duration=1.0, binary=False)
    assert coarse.x_train.shape == (2, 2, 700) and coarse.x_train[0, 0].sum() == 2


def _nmnist_bytes(events: list[tuple[int, int, int, int]]) -> bytes:
    """N-MNIST's 5-byte events: x, y, polarity in bit 7 of byte 2, a 23-bit big-endian timestamp (us)."""
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_nmnist_binary(tmp_path):
    events = [(0, 0, 1, 0), (33, 5, 0, 2500), (7, 33, 1, 299_999), (1, 1, 1, 300_000), (2, 3, 0, 0x7FFFFF)]
    raw = _nmnist_bytes(events)
    assert struct.unpack(">I", b"\x00" + raw[22:25])[0] == 0x7FFFFF  # the timestamp is 23 bits, big-endian
    for split in ("Train", "Test"):
        for digit in (3, 8):
            (tmp_path / "nmnist" / split / str(digit)).mkdir(parents=True)
            (tmp_path / "nmnist" / split / str(digit) / "00001.bin").write_bytes(raw)
    ev = nmnist.read_events(tmp_path / "nmnist" / "Train" / "3" / "00001.bin")
    assert ev["t"].tolist() == [t for *_, t in events] and ev["p"].tolist() == [1, 0, 1, 1, 0]
    d = data.load("nmnist", data_dir=tmp_path, dt=1e-3, duration=0.3)
    assert d.x_train.shape == (2, 300, 2, 34, 34) and d.y_train.tolist() == [3, 8]
    x = d.x_train[0]
    assert x[0, 1, 0, 0] == 1 and x[2, 0, 5, 33] == 1 and x[299, 1, 33, 7] == 1 and x.sum() == 3
    (tmp_path / "bad.bin").write_bytes(raw[:7])
    with pytest.raises(ValueError, match="5-byte"):
        nmnist.read_events(tmp_path / "bad.bin")


def _aedat31(events: list[tuple[int, int, int, int]], overflow: int = 0) -> bytes:
    """An AEDAT 3.1 file with one polarity packet (x, y, p, t us)."""
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    body = b"".join(struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | 1, t) for x, y, p, t in events)
    invalid = struct.pack("<Ii", (5 << 17) | (5 << 2), 10)  # validity bit clear: skipped
    n = len(events) + 1
    return header + struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, n, n, n - 1) + body + invalid


def test_dvsgesture_aedat(tmp_path):
    root = tmp_path / "dvsgesture" / "DvsGesture"
    root.mkdir(parents=True)
    events = [(0, 0, 1, 1000), (127, 127, 0, 1500), (64, 8, 1, 2_000_000), (10, 10, 1, 2_100_000)]
    (root / "user01_led.aedat").write_bytes(_aedat31(events))
    (root / "user01_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n3,1000,2000000\n11,2000000,3000000\n")
    (root / "user24_led.aedat").write_bytes(_aedat31(events))
    (root / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0,3000000\n")
    (root / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\n")
    ev = dvsgesture.read_aedat31(root / "user01_led.aedat")
    assert ev["x"].tolist() == [0, 127, 64, 10] and ev["y"].tolist() == [0, 127, 8, 10] and ev["p"].tolist() == [1, 0, 1, 1]
    d = data.load("dvsgesture", data_dir=tmp_path, dt=10e-3, duration=0.5, downsample=4)
    assert d.x_train.shape == (2, 50, 2, 32, 32) and d.y_train.tolist() == [2, 10] and d.y_test.tolist() == [0]
    assert d.x_train[0, 0, 1, 0, 0] == 1 and d.x_train[0, 0, 0, 31, 31] == 1 and d.x_train[0].sum() == 2
    assert d.x_train[1, 0, 1, 2, 16] == 1 and d.x_train[1, 10, 1, 2, 2] == 1
    assert d.x_test[0, 0].sum() == 2  # t = 1.0 and 1.5 ms, both in the first 10 ms bin of the sample


def test_dvsgesture_tonic_layout(tmp_path):
    # tonic's extracted DVSGesture layout: DVSGesture/ibmGesture{Train,Test}/userNN_<lighting>/<class>.npy,
    # columns x, y, p, t (ms)
    for folder in ("ibmGestureTrain", "ibmGestureTest"):
        for user in range(2):
            d = tmp_path / "dvsgesture" / "DVSGesture" / folder / f"user{user + 1:02d}_led"
            d.mkdir(parents=True)
            for cls in range(10):
                np.save(d / f"{cls}.npy", np.array([[cls, 1, 1, 0.0], [2, 3, 0, 15.0]]))
    d = data.load("dvsgesture", data_dir=tmp_path, dt=10e-3, duration=0.02, downsample=1, max_samples=12)
    assert d.x_train.shape == (12, 2, 2, 128, 128)
    i = int(torch.nonzero(d.y_train == 7)[0])
    assert d.x_train[i, 0, 1, 1, 7] == 1 and d.x_train[i, 1, 0, 3, 2] == 1 and d.x_train[i].sum() == 2


@pytest.mark.parametrize("name", ["shd", "ssc", "nmnist", "dvsgesture"])
def test_missing_data_says_where_to_get_and_put_it(tmp_path, monkeypatch, name):
    monkeypatch.setenv("NEUROMAP_DATA", str(tmp_path))
    with pytest.raises(DatasetMissing) as err:
        data.load(name)
    msg = str(err.value)
    assert str(tmp_path / data.SOURCES[name].folder) in msg and data.SOURCES[name].url in msg
    assert "NEUROMAP_DATA" in msg


def test_builtin_and_unknown_names():
    assert data.load("digits", steps=4).x_train.shape[1:] == (4, 64)
    with pytest.raises(ValueError, match="unknown data set"):
        data.load("imagenet")


def test_inputs_reads_one_split_time_major(tmp_path):
    folder = tmp_path / "shd"
    folder.mkdir()
    write_shd(folder / "shd_test.h5", [([0.0], [5], 1), ([0.02], [6], 2), ([0.03], [7], 3)])
    x, y = data.inputs("shd", samples=2, data_dir=tmp_path, steps=4, dt=10e-3)  # no train file needed
    assert x.shape == (4, 2, 700) and y.tolist() == [1, 2] and x[2, 1, 6] == 1
    x, y = data.inputs("digits", samples=3, steps=5)
    assert x.shape == (5, 3, 64) and len(y) == 3
