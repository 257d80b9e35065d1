"""The graphs of the NIR repository's own test suite, built with NIR's constructors.

Ported from https://github.com/neuromorphs/NIR (commit 7232ada6d30e1beea78b180a5135b1a3bb3d3bc0):
``tests/__init__.py`` (the ``mock_*`` helpers, here drawing from a seeded generator instead of the
global one), ``tests/test_readwrite.py``, ``tests/test_architectures.py`` and ``tests/test_ir.py``:
every test that builds a ``nir.NIRGraph``, with its nodes and edges as written there (the node-only
tests build no graph). NIR is BSD-3-Clause (tests/fixtures/nir/LICENSE).

:data:`CASES` maps ``"<NIR test file>::<test>"`` to ``(builder, refusal)``: ``refusal`` is None for
a graph that must load and run on ``backends.torch``, else a substring of the error neuromap must
give for what the graph itself makes impossible (a loop of synapses with no state in it, a graph
with no input, random negative delays, a layer fed a shape it does not take).
"""

from __future__ import annotations

from collections.abc import Callable

import nir
import numpy as np

_rng = np.random.default_rng(0)


def _seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


def randn(*shape) -> np.ndarray:
    return _rng.standard_normal(shape)


def mock_linear(*shape):
    return nir.Linear(weight=randn(*shape).T)


def mock_conv(input_shape, weights):
    cls = nir.Conv2d if len(weights) == 4 else nir.Conv1d
    return cls(input_shape=input_shape, weight=randn(*weights), bias=randn(weights[0]), stride=1, padding=0,
               dilation=1, groups=1)


def mock_affine(*shape):
    return nir.Affine(weight=randn(*shape).T, bias=randn(shape[1]))


def mock_input(*shape):
    return nir.Input(input_type=np.array(shape))


def mock_integrator(*shape):
    return nir.I(r=randn(*shape))


def mock_output(*shape):
    return nir.Output(output_type=np.array(shape))


def mock_delay(*shape):
    return nir.Delay(delay=randn(*shape))


def _lif(tau, thr):
    n = len(tau)
    return nir.LIF(tau=np.array(tau), r=np.ones(n), v_leak=np.zeros(n), v_reset=np.zeros(n), v_threshold=np.array(thr))


# ------------------------------------------------------------------------------------- tests/test_readwrite.py
def rw_simple():
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "a": mock_affine(2, 2),
                               "output": nir.Output(output_type=None)},
                        edges=[("input", "a"), ("a", "a"), ("a", "output")])


def rw_nested():
    i = np.array([2])
    inner = nir.NIRGraph(nodes={"a": nir.Input(i), "b": nir.Delay(np.array([1, 1])), "c": nir.Output(i)},
                         edges=[("a", "b"), ("b", "c")])
    return nir.NIRGraph(nodes={"a": nir.I(r=np.array([1, 1])), "b": inner, "c": nir.Output(np.array([1, 1]))},
                        edges=[("a", "b"), ("b", "a")])


def rw_conv1d_2():
    return nir.NIRGraph.from_list(mock_conv((100, 100), (1, 2, 3, 3)))


def rw_integrator():
    return nir.NIRGraph(nodes={"a": mock_affine(2, 2), "b": nir.I(np.array([1, 1]))}, edges=[("a", "b")])


def rw_integrate_and_fire():
    r, v_threshold, v_reset = np.array([1, 1]), np.array([1, 1]), np.array([0, 0])
    return nir.NIRGraph(nodes={"a": mock_affine(2, 2), "b": nir.IF(r, v_reset, v_threshold)}, edges=[("a", "b")])


def rw_leaky_integrator():
    ones = np.array([1, 1, 1])
    return nir.NIRGraph.from_list(mock_affine(2, 3), nir.LI(ones, ones, ones))


def rw_linear():
    ones = np.array([1, 1, 1])
    return nir.NIRGraph.from_list(mock_linear(2, 3), nir.LI(ones, ones, ones))


def rw_leaky_integrator_and_fire():
    ones = np.array([1, 1, 1])
    return nir.NIRGraph.from_list(mock_affine(2, 3), nir.LIF(ones, ones, ones, np.zeros(3), np.array([3, 3, 3])))


def rw_current_based_leaky_integrator():
    ones = np.array([1, 1, 1])
    return nir.NIRGraph.from_list(mock_affine(2, 3), nir.CubaLI(ones, 2 * ones, ones, ones, w_in=2 * ones))


def rw_current_based_leaky_integrator_and_fire():
    ones = np.array([1, 1, 1])
    return nir.NIRGraph.from_list(mock_affine(2, 3),
                                  nir.CubaLIF(ones, 2 * ones, ones, ones, np.zeros(3), 3 * ones, w_in=2 * ones))


def rw_scale():
    return nir.NIRGraph.from_list(nir.Input(input_type=np.array([3])), nir.Scale(scale=np.array([1, 2, 3])),
                                  nir.Output(output_type=np.array([3])))


def rw_simple_with_read_write():
    return nir.NIRGraph.from_list(nir.Input(input_type=np.array([3])), mock_affine(3, 3),
                                  nir.Output(output_type=np.array([3])))


def rw_delay():
    return nir.NIRGraph.from_list(nir.Input(np.array([3])), nir.Delay(np.array([1, 2, 3])), nir.Output(np.array([3])))


def rw_threshold():
    return nir.NIRGraph.from_list(nir.Input(np.array([3])), nir.Threshold(np.array([1, 2, 3])),
                                  nir.Output(np.array([3])))


def rw_flatten():
    return nir.NIRGraph.from_list(nir.Input(input_type=np.array([2, 3])),
                                  nir.Flatten(start_dim=0, end_dim=1, input_type={"input": np.array([2, 3])}),
                                  nir.Output(output_type=np.array([6])))


def _pool(cls):
    return nir.NIRGraph.from_list([nir.Input(input_type=np.array([2, 10, 10])),
                                   cls(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
                                   nir.Output(output_type=np.array([2, 5, 5]))])


def rw_sum_pool_2d():
    return _pool(nir.SumPool2d)


def rw_avg_pool_2d():
    return _pool(nir.AvgPool2d)


# ------------------------------------------------------------------------------------- tests/test_architectures.py
def arch_sequential():
    return nir.NIRGraph.from_list(mock_affine(2, 3), nir.Delay(np.array([0.5, 0.1, 0.2])),
                                  _lif([10, 20, 30], [1, 2, 3]), mock_affine(3, 2))


def arch_recurrent_on_first_node():
    return nir.NIRGraph(nodes={"input": mock_input(2), "affine": mock_affine(2, 2), "integrator": mock_integrator(2),
                               "output": mock_output(2)},
                        edges=[("input", "affine"), ("affine", "integrator"), ("integrator", "affine"),
                               ("integrator", "output")])


def arch_recurrent_on_second_node():
    return nir.NIRGraph(nodes={"affine1": mock_affine(2, 2), "affine2": mock_affine(2, 2),
                               "integrator": mock_integrator(2), "affine3": mock_affine(2, 2)},
                        edges=[("affine1", "affine2"), ("affine2", "integrator"), ("integrator", "affine2"),
                               ("integrator", "affine3")])


def _branches(out_1: int, out_2: int):
    b1 = nir.NIRGraph.from_list(mock_affine(2, 3), nir.Delay(np.array([0.5, 0.1, 0.2])),
                                _lif([10, 20, 30], [1, 2, 3]), mock_affine(3, out_1))
    b2 = nir.NIRGraph.from_list(mock_affine(2, 2), _lif([10, 20], [1, 2]), mock_affine(2, out_2))
    return b1, b2


def arch_two_independent_branches():
    b1, b2 = _branches(2, 2)
    return nir.NIRGraph(nodes={"branch_1": b1, "branch_2": b2}, edges=[])


def arch_two_independent_branches_merging():
    b1, b2 = _branches(3, 3)
    return nir.NIRGraph(nodes={"branch_1": b1, "branch_2": b2, "junction": _lif([5, 2, 1], [1, 1, 1])},
                        edges=[("branch_1", "junction"), ("branch_2", "junction")])


def _split(junction):
    pre = nir.NIRGraph.from_list(mock_affine(2 if junction == "affine" else 3, 3), _lif([10, 20, 30], [1, 2, 3]))
    b1 = nir.NIRGraph.from_list(mock_affine(3, 2), _lif([10, 20], [1, 2]))
    b2 = nir.NIRGraph.from_list([mock_affine(3, 2), _lif([15, 5], [1, 1])])
    g = (nir.Affine(weight=np.array([[2, 0], [1, 3], [4, 1]]), bias=np.array([0, 1])) if junction == "affine"
         else mock_affine(2, 2))
    return nir.NIRGraph(nodes={"pre_split": pre, "branch_1": b1, "branch_2": b2, "junction": g},
                        edges=[("pre_split", "branch_1"), ("pre_split", "branch_2"), ("branch_1", "junction"),
                               ("branch_2", "junction")])


def arch_merge_and_split_single_output():
    return _split("affine")


def arch_merge_and_split_different_output_type():
    return _split("mock")


def arch_residual():
    a, c, e = mock_affine(2, 2), mock_affine(2, 2), mock_affine(2, 2)
    nodes = {"a": a, "b": _lif([10, 20], [1, 2]), "c": c, "d": _lif([10, 20], [1, 2]), "e": e, "f": _lif([15, 5], [1, 1])}
    return nir.NIRGraph(nodes=nodes, edges=[("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("a", "e"), ("e", "f")])


def arch_complex():
    nodes = {
        "a": nir.Affine(weight=np.array([[1], [2], [3]]), bias=np.array([[0, 0, 0]])),
        "b": _lif([10, 20, 30], [1, 2, 3]),
        "c": _lif([5, 20, 1], [1, 1, 1]),
        "d": nir.Affine(weight=np.array([[1, 3], [2, 3], [1, 4]]).T, bias=np.array([0, 0])),
        "e": nir.Affine(weight=np.array([[1, 3], [2, 3], [1, 4]]).T, bias=np.array([0, 0])),
        "f": nir.Affine(weight=np.array([[1, 3], [1, 4]]), bias=np.array([0, 0])),
    }
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("c", "e"), ("d", "f"), ("e", "f")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


# ------------------------------------------------------------------------------------- tests/test_ir.py
def ir_simple():
    return nir.NIRGraph(nodes={"a": mock_affine(3, 3), "b": mock_affine(3, 3)}, edges=[("a", "b")])


def ir_nested():
    nested = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])), "integrator": mock_integrator(3),
                                 "delay": mock_delay(3), "output": nir.Output(output_type=None)},
                          edges=[("input", "integrator"), ("integrator", "delay"), ("delay", "integrator"),
                                 ("integrator", "output")])
    return nir.NIRGraph(nodes={"affine": mock_affine(3, 3), "inner": nested}, edges=[("affine", "inner")])


def ir_simple_with_input_output():
    return nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "w": mock_affine(3, 3), "out": nir.Output(np.array([3]))},
                        edges=[("in", "w"), ("w", "out")])


def ir_delay():
    return nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "d": mock_delay(3), "out": nir.Output(np.array([3]))},
                        edges=[("in", "d"), ("d", "out")])


def ir_conv2d_same():
    conv = nir.Conv2d(input_shape=(3, 3), weight=np.ones((1, 3, 3)), stride=1, padding="same", dilation=1, groups=1,
                      bias=np.array([0.0] * 9))
    li = nir.LI(np.array([0.9, 0.8, 0.7]), np.ones(3), np.zeros(3))
    return nir.NIRGraph.from_list(conv, li, type_check=False)


def ir_threshold():
    return nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "thr": nir.Threshold(np.array([1, 2, 3])),
                               "out": nir.Output(np.array([3]))}, edges=[("in", "thr"), ("thr", "out")])


def ir_linear():
    return nir.NIRGraph(nodes={"a": mock_linear(3, 3), "b": mock_linear(3, 3)}, edges=[("a", "b")])


def ir_flatten():
    return nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([4, 5, 2])),
                               "flat": nir.Flatten(start_dim=0, end_dim=1, input_type={"input": np.array([4, 5, 2])}),
                               "out": nir.Output(output_type=np.array([20, 2]))},
                        edges=[("in", "flat"), ("flat", "out")])


def ir_from_list_naming():
    m = np.array
    return nir.NIRGraph.from_list(
        nir.Linear(weight=m([[3, 1], [-1, 2], [1, 2]])), nir.Linear(weight=m([[3, 1], [-1, 4], [1, 2]]).T),
        nir.Affine(weight=m([[2, 1], [-1, 2], [1, 2]]), bias=m([1, 3, 2])),
        nir.Affine(weight=m([[2, 1], [-1, 4], [1, 2]]).T, bias=m([-2, 2])),
        nir.Linear(weight=m([[3, 1], [-1, 1], [1, 2]])), nir.Linear(weight=m([[3, 1], [-1, 3], [1, 2]]).T),
        nir.Affine(weight=m([[2, 1], [-1, 1], [1, 2]]), bias=m([1, 5, 2])),
        nir.Affine(weight=m([[2, 1], [-1, 3], [1, 2]]).T, bias=m([-2, 3])),
    )


def ir_from_list_tuple_or_list():
    return nir.NIRGraph.from_list(mock_affine(2, 3), mock_delay(3))


def ir_graph_from_dict_type_checked():
    nodes = {"input": {"type": "Input", "shape": np.array([2])},
             "module": {"type": "Linear", "weight": randn(2, 2)},
             "output": {"type": "Output", "shape": np.array([2])}}
    return nir.NIRGraph.from_dict({"nodes": nodes, "edges": [("input", "module"), ("module", "output")]})


CYCLE = "has no stateful node"
CASES: dict[str, tuple[Callable[[], nir.NIRGraph], str | None]] = {
    "test_readwrite::test_simple": (rw_simple, CYCLE),
    "test_readwrite::test_nested": (rw_nested, None),
    "test_readwrite::test_conv1d_2": (rw_conv1d_2, None),
    "test_readwrite::test_integrator": (rw_integrator, None),
    "test_readwrite::test_integrate_and_fire": (rw_integrate_and_fire, None),
    "test_readwrite::test_leaky_integrator": (rw_leaky_integrator, None),
    "test_readwrite::test_linear": (rw_linear, None),
    "test_readwrite::test_leaky_integrator_and_fire": (rw_leaky_integrator_and_fire, None),
    "test_readwrite::test_current_based_leaky_integrator": (rw_current_based_leaky_integrator, None),
    "test_readwrite::test_current_based_leaky_integrator_and_fire": (rw_current_based_leaky_integrator_and_fire, None),
    "test_readwrite::test_scale": (rw_scale, None),
    "test_readwrite::test_simple_with_read_write": (rw_simple_with_read_write, None),
    "test_readwrite::test_delay": (rw_delay, None),
    "test_readwrite::test_threshold": (rw_threshold, None),
    "test_readwrite::test_flatten": (rw_flatten, None),
    "test_readwrite::test_sum_pool_2d": (rw_sum_pool_2d, None),
    "test_readwrite::test_avg_pool_2d": (rw_avg_pool_2d, None),
    "test_architectures::test_sequential": (arch_sequential, None),
    "test_architectures::test_recurrent_on_first_node": (arch_recurrent_on_first_node, None),
    "test_architectures::test_recurrent_on_second_node": (arch_recurrent_on_second_node, None),
    "test_architectures::test_two_independent_branches": (arch_two_independent_branches, None),
    "test_architectures::test_two_independent_branches_merging": (arch_two_independent_branches_merging, None),
    "test_architectures::test_merge_and_split_single_output": (arch_merge_and_split_single_output,
                                                               "does not broadcast over its 3 outputs"),
    "test_architectures::test_merge_and_split_different_output_type": (arch_merge_and_split_different_output_type, None),
    "test_architectures::test_residual": (arch_residual, None),
    "test_architectures::test_complex": (arch_complex, None),
    "test_ir::test_simple": (ir_simple, None),
    "test_ir::test_nested": (ir_nested, "non-negative multiples of dt"),
    "test_ir::test_simple_with_input_output": (ir_simple_with_input_output, None),
    "test_ir::test_delay": (ir_delay, "non-negative multiples of dt"),
    "test_ir::test_conv2d_same": (ir_conv2d_same, "weight must be 4-D"),
    "test_ir::test_threshold": (ir_threshold, None),
    "test_ir::test_linear": (ir_linear, None),
    "test_ir::test_flatten": (ir_flatten, None),
    "test_ir::test_from_list_naming": (ir_from_list_naming, None),
    "test_ir::test_from_list_tuple_or_list": (ir_from_list_tuple_or_list, "non-negative multiples of dt"),
    "test_ir::test_graph_from_dict_type_checked": (ir_graph_from_dict_type_checked, None),
}


def build(name: str) -> nir.NIRGraph:
    """The graph of one case, its random values drawn from a generator seeded by the case's position."""
    _seed(list(CASES).index(name))
    return CASES[name][0]()
