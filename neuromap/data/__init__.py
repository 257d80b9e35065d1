"""Data: encoders, data sets that need no download, real event data sets read from local files,
and character-level text. Everything comes out time-major (``[T, B, ...]``) and is deterministic
under its ``seed``::

    from neuromap import data
    digits = data.digits(encoding="rate", steps=25)            # SequenceData: x [N, T, 64] inside
    for x, y in digits.batches("train", batch_size=32):        # x [T, B, 64], y [B]
        ...
    shd = data.load("shd", data_dir="~/data", dt=10e-3)        # any name in data.NAMES
    spikes = data.rate(torch.rand(8, 64), steps=25)            # an encoder: [25, 8, 64]
    corpus = data.char_corpus()                                # pydoc_data.topics, token ids

Modules: :mod:`.sequences` (:class:`SequenceData`, :func:`digits`, synthetic sequence tasks),
:mod:`.moving_bars` (synthetic DVS events), :mod:`.encoding` (rate, latency, current, delta codes),
:mod:`.catalog` (:func:`load` / :func:`inputs` by name), :mod:`.files` (where real data sets live on
disk), :mod:`.events` (binning event streams), one module per file format (:mod:`.heidelberg` for
SHD/SSC, :mod:`.nmnist`, :mod:`.dvsgesture`) and :mod:`.text` (character corpora).
"""

from .catalog import BUILTIN, DEFAULT_DT, NAMES, inputs, load
from .encoding import ENCODINGS, current, delta, encode, latency, rate
from .events import bin_events, n_steps
from .files import ENV, SOURCES, DatasetError, DatasetMissing, data_root, dataset_dir
from .moving_bars import moving_bars
from .sequences import SequenceData, adding_problem, delayed_recall, digits
from .text import CharCorpus, CharVocab, char_corpus, pydoc_topics_text

__all__ = [
    "SequenceData", "digits", "delayed_recall", "adding_problem", "moving_bars",
    "ENCODINGS", "rate", "latency", "current", "delta", "encode",
    "load", "inputs", "NAMES", "BUILTIN", "DEFAULT_DT", "SOURCES", "ENV", "DatasetMissing", "DatasetError", "data_root",
    "dataset_dir",
    "bin_events", "n_steps",
    "CharCorpus", "CharVocab", "char_corpus", "pydoc_topics_text",
]
