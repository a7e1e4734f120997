"""Bad: two ExecAlgorithm subclasses in one file."""
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = []


class TwinConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "TWIN"


class TwinA(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.submit_order(order)


class TwinB(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.submit_order(order)
