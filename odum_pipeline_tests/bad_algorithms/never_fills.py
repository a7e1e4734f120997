"""Bad: accepts the order and never sends anything."""
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = []


class IdleConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "IDLE"


class Idle(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.log.info(f"ignoring {order}")
