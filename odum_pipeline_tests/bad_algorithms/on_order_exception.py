"""Bad: raises in on_order."""
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = [{"name": "slices", "type": "int", "default": 0, "min": 0, "doc": "Number of slices."}]


class CrashConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "CRASH"
    slices: int = 0


class Crash(ExecAlgorithm):
    def on_order(self, order) -> None:
        size = order.quantity.as_double() / self.config.slices  # ZeroDivisionError
        self.log.info(f"{size}")
