"""Published measurements that ``neuromap validate`` re-creates, with what each one included.

Every number here is read from its primary source (a paper's table or text, a repository's raw logs
or committed notebook output) or derived from such numbers by the arithmetic written beside it;
nothing is fitted. The cases (:mod:`neuromap.energy.cases`) build the measured workload, price it
with the shipped targets and compare; which of these numbers a target figure was *derived from*
(a calibration) is said in each case.

Units: seconds, joules, watts; counts are over the whole measured run unless a name says "per".
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Loihi (1): Blouw et al. 2019 -------------------------------------------------------------
#: Blouw, Choo, Hunsberger and Eliasmith, "Benchmarking keyword spotting efficiency on neuromorphic
#: hardware", NICE 2019 (arXiv 1812.01739), and the authors' raw logs (github.com/abr/power_benchmarks,
#: logs/running/*.json and *.csv, logs/idle/*.csv). "Dynamic" is the board's running power minus its
#: power idling after boot (the paper's definition), which includes the embedded x86 cores' ~70 mW.
BLOUW_PAPER = "Blouw et al. 2019 (NICE 2019, arXiv 1812.01739)"
BLOUW_LOGS = "github.com/abr/power_benchmarks logs/running + logs/idle"


@dataclass(frozen=True)
class LoihiRun:
    """One configuration of Blouw et al.'s Loihi runs: the network (``copies`` branches of
    ``layers`` 256-neuron layers between the input and output layers of the keyword spotter; 0 / 0 is
    the spotter's shape), its input-layer cores, and the measured time and dynamic energy per
    inference (means of the runs named in ``logs``: duration between the JSON's start and end times /
    inferences; (mean running - mean idle power) x duration / inferences, from the CSVs)."""

    name: str
    copies: int
    layers: int
    input_cores: int
    time_per_inference: float  # s
    dynamic_energy_per_inference: float  # J
    logs: str

    @property
    def measurement(self) -> str:
        """Its id in :data:`MEASUREMENTS` (the logs' configuration name, or the keyword spotter's)."""
        return "blouw2019/" + ("keyword-spotter" if self.logs.startswith("paper") else self.logs.split("_run")[0])


BLOUW_STEPS_PER_INFERENCE = 10  # the scaled runs stream 20,000 steps over 2,000 inferences (run_command --stream)
#: the keyword spotter itself (loihi_run01-05: 5,000 inferences each in 16.82-16.99 s); the paper's
#: table gives 296 inferences/s and 0.081 W dynamic, 0.00027 J per inference
BLOUW_KWS = LoihiRun("keyword spotter", 0, 0, 2, 1.0 / 296.0, 0.081 / 296.0, "paper table; loihi_run01-05")
#: the scaled networks of the paper's Fig. "loihi_summary" (input layer on 8 cores); values from the
#: raw logs, mean of runs 01-03 of each configuration (loihi_I08O08C{NN}L{LL}_run0{1,2,3})
BLOUW_SCALED = (
    LoihiRun("scaled, N = 0", 0, 0, 8, 7.947e-3, 0.6195e-3, "loihi_I08O08C00L00_run01-03"),
    LoihiRun("scaled, N = 1", 1, 10, 8, 8.717e-3, 0.6816e-3, "loihi_I08O08C01L10_run01-03"),
    LoihiRun("scaled, N = 2", 2, 10, 8, 8.745e-3, 0.7037e-3, "loihi_I08O08C02L10_run01-03"),
    LoihiRun("scaled, N = 4", 4, 10, 8, 8.748e-3, 0.7335e-3, "loihi_I08O08C04L10_run01-03"),
    LoihiRun("scaled, N = 6", 6, 10, 8, 8.747e-3, 0.7678e-3, "loihi_I08O08C06L10_run01-03"),
    LoihiRun("scaled, N = 8", 8, 10, 8, 8.775e-3, 0.8024e-3, "loihi_I08O08C08L10_run01-03"),
    LoihiRun("scaled, N = 10", 10, 10, 8, 8.772e-3, 0.8358e-3, "loihi_I08O08C10L10_run01-03"),
)

# --- Loihi 2: lava-dl PilotNet benchmark notebooks --------------------------------------------
LAVA_DL = "lava-nc/lava-dl d825ac5 tutorials/lava/lib/dl/netx/{}/benchmark.ipynb (committed outputs)"


@dataclass(frozen=True)
class PilotNetLayer:
    """One layer of PilotNet as lava-dl's netx prints it and as the Loihi 2 compiler allocated it
    (the notebook's "Per core distribution" table), with the profiler's counts over the run: synaptic
    ops delivered to the layer's cores and spikes (graded messages) sent, read off the notebook's
    plot with :mod:`tools.digitise_profiler_plot`, the reading of the zero line subtracted and
    negative readings taken as zero (uncertainty per core: ``PILOTNET_READ_UNCERTAINTY``; a layer
    whose cores all read zero within it is given 0). The profiler counts no synaptic ops on the LIF
    network's first conv cores (its input layer is driven by a bias) and none on the dense cores."""

    name: str
    shape: tuple[int, int, int]  # (C, H, W) of the neurons
    kernel: tuple[int, int] | None  # conv kernel (kh, kw); None: dense from the previous layer
    stride: tuple[int, int]
    padding: tuple[int, int]
    compiler_cores: int
    compiler_neurons_per_core: int
    synops: float  # over the run
    spikes: float  # over the run


@dataclass(frozen=True)
class PilotNetRun:
    """One notebook's measurement: power per chip with the board's other chips' static power
    subtracted (the notebook does it), the throughput, steps per frame and the layers."""

    network: str
    notebook: str
    frames_per_s: float
    steps_per_frame: int
    steps_run: int
    total_power: float  # W per chip
    dynamic_power: float  # W
    static_power: float  # W
    vdd_power: float  # W, neuro cores
    vddm_power: float  # W, memory
    layers: tuple[PilotNetLayer, ...]
    input_from_host: bool  # frames sent from the host every frame (SDNN) or a bias (LIF)

    def measurement(self, quantity: str) -> str:
        """The id in :data:`MEASUREMENTS` of one of this notebook's readings (``static-power``,
        ``dynamic-power``, ``time-per-step``): each is its own measurement of the run."""
        return f"lava-dl/{self.notebook}:{quantity}"


def _conv(name, shape, stride, padding, cores, per_core, synops, spikes):
    return PilotNetLayer(name, shape, (3, 3), stride, padding, cores, per_core, synops, spikes)


def _dense(name, n, cores, per_core, synops, spikes):
    return PilotNetLayer(name, (n, 1, 1), None, (1, 1), (0, 0), cores, per_core, synops, spikes)


#: half the plotted line's width plus the tick fit's residual, in counts per core (the LIF plot's
#: y scale is 10x the SDNN's)
PILOTNET_READ_UNCERTAINTY = {"pilotnet_snn": 8.3e6, "pilotnet_sdnn": 0.55e6}

#: PilotNet LIF: netx "network.net" beside the notebook, reset_interval 16 (steps per frame), run
#: for 10,000 steps on one frame written into the input layer's bias ("to avoid IO bottleneck");
#: Throughput 408.91 fps; Total 0.679234 W, Dynamic 0.447156 W, Static 0.232078 W, VDD 0.252728 W,
#: VDD-M 0.422127 W; energy per inference 1.661103 mJ total, 1.093544 mJ dynamic (cells 17, 23, 24).
PILOTNET_LIF = PilotNetRun(
    "PilotNet LIF", "pilotnet_snn", 408.91, 16, 10000, 0.679234, 0.447156, 0.232078, 0.252728, 0.422127,
    (
        PilotNetLayer("input", (3, 66, 200), None, (1, 1), (0, 0), 13, 3168, 0.0, 0.0),
        _conv("conv0", (24, 32, 99), (2, 2), (0, 0), 25, 3072, 0.0, 2.71e8),
        _conv("conv1", (36, 15, 49), (2, 2), (0, 0), 13, 2160, 1.61e10, 5.28e7),
        _conv("conv2", (48, 7, 24), (2, 2), (0, 0), 3, 2688, 4.53e9, 4.85e6),
        _conv("conv3", (64, 4, 22), (2, 1), (1, 0), 3, 2048, 1.55e9, 1.02e7),
        _conv("conv4", (64, 2, 20), (1, 1), (0, 0), 2, 2048, 6.75e8, 1.56e7),
        _dense("fc0", 100, 12, 8, 0.0, 0.0),
        _dense("fc1", 50, 1, 50, 0.0, 0.0),
        _dense("fc2", 10, 1, 10, 0.0, 0.0),
        _dense("fc3", 1, 1, 1, 0.0, 0.0),
    ),
    input_from_host=False,
)
#: PilotNet SDNN (sigma-delta): netx network.net with its input layer skipped (frames are delta
#: encoded on the host and sent every step: "bottlenecked by the communication of input frames");
#: run for 2,000 steps, one step per frame; Throughput 16.87 fps; Total 0.275709 W, Dynamic
#: -0.006066 W, Static 0.281775 W, VDD 0.103684 W, VDD-M 0.167086 W (cells 15, 21, 22).
PILOTNET_SDNN = PilotNetRun(
    "PilotNet SDNN", "pilotnet_sdnn", 16.87, 1, 2000, 0.275709, -0.006066, 0.281775, 0.103684, 0.167086,
    (
        _conv("conv0", (24, 32, 99), (2, 2), (0, 0), 25, 3072, 3.22e8, 8.23e6),
        _conv("conv1", (36, 15, 49), (2, 2), (0, 0), 13, 2160, 3.68e8, 3.75e6),
        _conv("conv2", (48, 7, 24), (2, 2), (0, 0), 3, 2688, 2.05e8, 0.69e6),
        _conv("conv3", (64, 4, 22), (2, 1), (1, 0), 3, 2048, 1.77e8, 1.02e6),
        _conv("conv4", (64, 2, 20), (1, 1), (0, 0), 2, 2048, 8.64e7, 2.11e6),
        _dense("fc0", 100, 12, 8, 8.56e6, 1.86e6),
        _dense("fc1", 50, 1, 50, 0.0, 0.0),
        _dense("fc2", 10, 1, 10, 0.0, 0.0),
        _dense("fc3", 1, 1, 1, 0.0, 0.0),
    ),
    input_from_host=True,
)

# --- GPU: neuromap's H200 measurements ----------------------------------------------------------
#: NVIDIA H200 (GH100), PyTorch 2.11, CUDA 13, NVML energy counter, batch 1 (neuromap measurement;
#: hardware/gpu-h100.toml cites it): the demo's 64-128-10 LIF SNN, 25 steps; eager PyTorch and the
#: same kernels replayed from a CUDA graph. The per-kernel times and busy power of gpu-h100 were
#: derived from these two (calibration).
H200_SNN = {"eager": (3.05e-3, 349e-3), "graph": (0.44e-3, 51e-3)}  # (s, J) per inference
#: the same H200 and software: an EGRU cell with hidden size 192 over 100 tokens, per token
#: (an independent measurement: no gpu-h100 figure was derived from it)
H200_EGRU = {"eager": (129e-6, 14.8e-3), "graph": (21.5e-6, 2.6e-3)}  # (s, J) per token

# --- SpiNNaker2: Nazeer et al. 2024 -------------------------------------------------------------
#: Nazeer, Schoene, Mukherji, Vogginger, Mayr, Kappel and Subramoney, "Language Modeling on a
#: SpiNNaker2 Neuromorphic Chip" (AICAS 2024, arXiv 2312.09084): about 65 mJ on SpiNNaker2 vs 1.19 J
#: on an NVIDIA A100 (read through a transcription); the SNUFA 2024 abstract: "a 5-18x reduction in
#: energy consumption for single-batch inference compared to a GPU" (read).
NAZEER_RATIO = 1.19 / 0.065
NAZEER_RANGE = (5.0, 18.0)

# --- SFQ: SuperSNN ------------------------------------------------------------------------------
#: Song, Caliskan, Ucpinar, Kopur, Karamuftuoglu, Razmkhah, Nazarian and Pedram, "SuperSNN: A
#: hardware-aware framework for physically realizable, high-performance superconducting spiking
#: neural network chips" (arXiv 2509.05532, 2025), abstract: MIT-LL SFQ5ee, 5,822 Josephson
#: junctions, 3.02 GHz, 2.15 mW static power, 6.55 fJ per inference.
SUPERSNN = {"junctions": 5822, "static_power": 2.15e-3, "clock": 3.02e9, "dynamic_energy_per_inference": 6.55e-15}


# --- the measurements, by id ---------------------------------------------------------------------
def _measurements() -> dict[str, str]:
    out = {run.measurement: f"{BLOUW_PAPER}; {BLOUW_LOGS} ({run.logs})" for run in (BLOUW_KWS, *BLOUW_SCALED)}
    for run in (PILOTNET_LIF, PILOTNET_SDNN):
        out.update({run.measurement(q): LAVA_DL.format(run.notebook) + f", {q.replace('-', ' ')}"
                    for q in ("static-power", "dynamic-power", "time-per-step")})
    out.update({
        "neuromap-h200/lif-snn": "neuromap measurement, NVIDIA H200: the demo's LIF SNN, 25 steps, batch 1 (H200_SNN)",
        "neuromap-h200/egru": "neuromap measurement, NVIDIA H200: an EGRU cell, hidden 192, 100 tokens (H200_EGRU)",
        "nazeer2024": "Nazeer et al. 2024 (AICAS 2024, arXiv 2312.09084; SNUFA 2024 abstract): A100 / SpiNNaker2 energy",
        "supersnn/static-power": "Song et al. 2025 (SuperSNN, arXiv 2509.05532) abstract: 2.15 mW static, 5,822 JJ",
        "hermes/1-phase": "Le Gallo et al. 2023 (Nat. Electron.): 63.1 TOPS, 9.76 TOPS/W at 1-phase, 8-bit I/O",
        "yao2023/sdt-formula": "Yao et al. NeurIPS 2023 / ICLR 2024: the Spike-driven Transformer's energy formula",
    })
    return out


#: every published measurement a row compares with, by id -> its source. A target figure derived
#: from one names it (``calibrated_on`` in its TOML); a row names the one it compares with.
MEASUREMENTS: dict[str, str] = _measurements()
