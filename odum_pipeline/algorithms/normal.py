"""NORMAL: the parent order goes to the venue whole, at once (no slicing).

Built in (not a file in ``algorithms/``) and run through the same ``ExecAlgorithm`` seam as the
others, so that a market parent bigger than the visible book keeps working its remainder on the
next book updates until its deadline or the window end (see ``SlicingExecAlgorithm``), like every
algorithm's market slices, instead of vanishing.
"""

from __future__ import annotations

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.identifiers import ExecAlgorithmId

from odum_pipeline.algorithms.base import SlicingExecAlgorithm

PARAMETERS: list = []


class NormalConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("NORMAL")


class Normal(SlicingExecAlgorithm):
    acts_only_at_alerts = True  # the order goes out at once; remainders wait on the book (base class)

    def __init__(self, config: NormalConfig | None = None) -> None:
        super().__init__(config or NormalConfig())

    def on_order(self, order) -> None:
        self.submit_order(order)
