"""Bad: imports a module that does not exist."""
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

import odum_no_such_module  # noqa: F401

PARAMETERS = []


class BrokenConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "BROKEN"


class Broken(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.submit_order(order)
