"""Bad: the parameter schema has an unknown type and min > max."""
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = [
    {"name": "horizon_secs", "type": "duration", "default": 60, "doc": "Horizon."},
    {"name": "rate", "type": "float", "default": 0.5, "min": 1, "max": 0, "doc": "Rate."},
]


class OddConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "ODD"
    horizon_secs: int = 60
    rate: float = 0.5


class Odd(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.submit_order(order)
