"""``backends.get("lava")``: the Graph quantised for Loihi and run by Lava's own CPU simulator
(``Loihi2SimCfg(select_tag="fixed_pt")``); see :mod:`neuromap.backends.loihi.backend`."""

from .loihi.backend import LAVA_BACKEND as BACKEND

__all__ = ["BACKEND"]
