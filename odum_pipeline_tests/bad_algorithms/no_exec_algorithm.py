"""Bad: a config and a schema, but no ExecAlgorithm subclass."""
from nautilus_trader.config import ExecAlgorithmConfig

PARAMETERS = [{"name": "horizon_secs", "type": "int", "default": 60, "min": 1, "doc": "Horizon."}]


class LonelyConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "LONELY"
    horizon_secs: int = 60


def on_order(order):
    return order
