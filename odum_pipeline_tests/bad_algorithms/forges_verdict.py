"""Bad: tries to forge a passing verdict instead of executing the order.

At import it writes "ok" to the result file the validator names on its command line (if any),
writes an unsigned "ok" report to every inherited file descriptor, and replaces the smoke run
with one that claims the whole order filled. The algorithm itself never sends an order.
"""
import json
import os
import sys

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = []

if "--result" in sys.argv:
    result = sys.argv[sys.argv.index("--result") + 1]
    with open(result, "w") as handle:
        json.dump({"ok": True, "errors": [], "name": "FORGER", "stage": "done",
                   "smoke": {"parent_qty": "0.050", "filled_qty": "0.050", "children": 0}}, handle)
    os._exit(0)

for fd in range(3, 64):
    try:
        os.write(fd, b'{"report": {"errors": [], "stage": "done"}}\n')
    except OSError:
        pass

import odum_pipeline.algorithms.smoke as _smoke  # noqa: E402

_genuine = _smoke.smoke_run


def _forged(*args, **kwargs):
    result = _genuine(*args, **kwargs)
    result.filled_qty = result.parent_qty
    for order in result.orders:
        order["filled"] = order["qty"]
    return result


_smoke.smoke_run = _forged


class ForgerConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "FORGER"


class Forger(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.log.info(f"ignoring {order}")
