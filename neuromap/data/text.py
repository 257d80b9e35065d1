"""Character-level text that ships with Python: the ``pydoc_data.topics`` help texts (~465 k chars).

    corpus = char_corpus()                       # fixed split by position: 90 % / 5 % / 5 %
    for x, y in corpus.bptt_batches("train", batch_size=32, bptt=64):   # x, y: [T, B] token ids
        ...

The text is the topics concatenated in sorted key order, so the corpus and its split are the same
on every machine with the same Python version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

SPLITS = ("train", "valid", "test")


def pydoc_topics_text() -> str:
    """All ``pydoc_data.topics.topics`` entries, concatenated in sorted key order."""
    from pydoc_data.topics import topics

    return "".join(topics[k] for k in sorted(topics))


@dataclass(frozen=True)
class CharVocab:
    """A sorted character vocabulary with strict encoding (unknown characters are an error)."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> torch.Tensor:
        idx = self.index
        unknown = sorted(set(text) - idx.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise ValueError(f"{len(unknown)} character(s) not in the vocabulary of {len(self)}: {shown}")
        return torch.tensor([idx[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not (0 <= int(i) < len(self))]
        if bad:
            raise ValueError(f"token ids {bad[:10]} are outside the vocabulary [0, {len(self)})")
        return "".join(self.chars[int(i)] for i in ids)


@dataclass
class CharCorpus:
    """Encoded text split by position into train / valid / test token streams."""

    vocab: CharVocab
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    name: str = "text"

    def split(self, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not one of {list(SPLITS)}")
        return getattr(self, split)

    def check_vocab_size(self, vocab_size: int) -> None:
        """Raise if a model's vocabulary size differs from this corpus's."""
        if vocab_size != len(self.vocab):
            raise ValueError(
                f"vocabulary mismatch: the model has {vocab_size} tokens, the corpus {self.name!r} has {len(self.vocab)}"
            )

    def batchify(self, split: str, batch_size: int) -> torch.Tensor:
        """The split's stream cut into ``batch_size`` contiguous columns: ``[L, B]``."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        data = self.split(split)
        L = data.numel() // batch_size
        if L < 2:
            raise ValueError(f"split {split!r} ({data.numel()} tokens) is too short for batch_size={batch_size}")
        return data[: L * batch_size].view(batch_size, L).t().contiguous()

    def bptt_batches(
        self, split: str, batch_size: int, bptt: int, max_batches: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive truncated-BPTT windows ``(x [T, B], y [T, B])`` with ``y`` = ``x`` shifted by one;
        state may be carried from one window to the next (the columns are contiguous text)."""
        if not isinstance(bptt, int) or bptt < 1:
            raise ValueError(f"bptt must be a positive integer (the sequence length), got {bptt!r}")
        data = self.batchify(split, batch_size)
        n = 0
        for start in range(0, data.shape[0] - 1, bptt):
            T = min(bptt, data.shape[0] - 1 - start)
            yield data[start : start + T], data[start + 1 : start + 1 + T]
            n += 1
            if max_batches is not None and n >= max_batches:
                return


def char_corpus(
    text: str | None = None, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05), name: str | None = None
) -> CharCorpus:
    """Encode ``text`` (default: :func:`pydoc_topics_text`) and split it by position."""
    if text is None:
        text, name = pydoc_topics_text(), name or "pydoc_data.topics"
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    if len(text) < 100:
        raise ValueError(f"text is too short for a train/valid/test split ({len(text)} characters)")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    a = int(len(ids) * fractions[0])
    b = a + int(len(ids) * fractions[1])
    return CharCorpus(vocab, ids[:a], ids[a:b], ids[b:], name=name or "text")
