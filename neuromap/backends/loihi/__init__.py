"""neuromap's own vectorised emulator of Loihi fixed-point arithmetic (bit-exact with Lava)."""

from .emulator import LoihiConnection, LoihiLIF, LoihiNetwork, LoihiRecord, LoihiSigmaDelta

__all__ = ["LoihiConnection", "LoihiLIF", "LoihiNetwork", "LoihiRecord", "LoihiSigmaDelta"]
