"""The columnar equity curve (``equity_grid.EquityCurve``) against the row-by-row way it replaced:
one record per grid second with Decimal fields (``_decimal`` of each float), turned into Arrow a
column at a time (decimal128 at the column's scale, or what Arrow infers when a mark is missing),
and the max drawdown as a walk over the rows' Decimals. Same table, same figures, to the bit."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from odum_pipeline.backtests.equity_grid import DECIMAL_COLUMNS, EquityCurve, _decimal
from odum_pipeline.backtests.metrics import max_drawdown
from odum_pipeline.charts import equity_curve_png


def _rows_table(curve: EquityCurve) -> pa.Table:
    """The former path: a Decimal (or None) per row and column, then Arrow column by column."""
    if not len(curve):
        return pa.table({})
    columns = {"ts": pa.array(curve.ts.tolist(), type=pa.int64())}
    for name in DECIMAL_COLUMNS:
        values = [None if np.isnan(v) else _decimal(v) for v in getattr(curve, name).tolist()]
        if all(isinstance(v, Decimal) for v in values):
            scale = max(max(-v.as_tuple().exponent, 0) for v in values)
            columns[name] = pa.array(values, type=pa.decimal128(38, scale))
        else:
            columns[name] = pa.array(values)
    columns["reason"] = pa.array([curve.reason] * len(curve))
    return pa.table(columns)


def _walk_drawdown(curve: EquityCurve) -> tuple[Decimal, Decimal]:
    """The former max drawdown: a walk over the rows' Decimal equities."""
    peak, worst, worst_pct = None, Decimal(0), Decimal(0)
    for equity in (_decimal(v) for v in curve.equity.tolist()):
        peak = equity if peak is None else max(peak, equity)
        drawdown = peak - equity
        if drawdown > worst:
            worst, worst_pct = drawdown, (drawdown / peak if peak else Decimal(0))
    return worst, worst_pct


def _curve(rng: np.random.Generator, n: int, *, missing: str, scale: float) -> EquityCurve:
    position = np.round(np.repeat(rng.normal(0, 3, size=n // 50 + 1), 50)[:n], 3)
    position[: n // 7] = 0.0
    mark = np.round(27_000 + np.cumsum(rng.normal(0, 2, size=n)), 2)
    if missing == "some":
        mark[: n // 10] = np.nan
    elif missing == "all":
        mark[:] = np.nan
    balance = scale + np.repeat(rng.normal(0, scale * 1e-4, size=n // 200 + 1).cumsum(), 200)[:n]
    unrealized = np.where(np.isnan(mark), 0.0, position * (np.nan_to_num(mark) - 27_000.123456789))
    unrealized[n // 3 : n // 3 + 40] = -0.0
    equity = balance + unrealized
    equity[n // 2 : n // 2 + 30] = equity[n // 2]  # a plateau: ties in the walk
    return EquityCurve(np.arange(n, dtype=np.int64) * 10**9 + 1_684_800_000 * 10**9, balance, unrealized, equity, mark, position)


@pytest.mark.parametrize("missing", ["none", "some", "all"])
@pytest.mark.parametrize("scale", [1e4, 1e7, 3e9])
def test_table_and_drawdown_are_the_row_by_row_ones(missing, scale):
    rng = np.random.default_rng(7)
    for n in (1, 2, 999, 5_000):
        curve = _curve(rng, n, missing=missing, scale=scale)
        table, expected = curve.to_arrow(), _rows_table(curve)
        assert table.schema == expected.schema
        assert table.equals(expected)
        assert max_drawdown(curve) == _walk_drawdown(curve)
        assert [str(v) for v in max_drawdown(curve)] == [str(v) for v in _walk_drawdown(curve)]


def test_drawdown_of_edge_curves_is_the_walks():
    def curve(equity):
        equity = np.asarray(equity, dtype=float)
        zeros = np.zeros(len(equity))
        return EquityCurve(np.arange(len(equity), dtype=np.int64), equity, zeros, equity, zeros, zeros)

    rng = np.random.default_rng(3)
    cases = [
        [], [5.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.0, -0.0, -1.0, 0.0, -1.0], [-5.0, -10.0, -1.0, -20.0],
        [100, 110, 90, 95, 120, 60], [0.1, 0.3, 0.1 + 0.2 - 0.2, 0.3, 0.1], [1e7 + 0.1, 1e7 - 0.2, 1e7 + 0.1, 1e7 - 0.2],
        list(np.round(1e7 + rng.normal(0, 1, 20_000).cumsum(), 9)), list(rng.normal(0, 1e-6, 2_000)),
    ]  # fmt: skip
    for equity in cases:
        assert max_drawdown(curve(equity)) == _walk_drawdown(curve(equity)), equity[:10]


def test_an_empty_curve_writes_an_empty_table():
    curve = EquityCurve.empty()
    assert len(curve) == 0 and not curve
    assert curve.to_arrow().equals(pa.table({}))
    assert max_drawdown(curve) == (Decimal(0), Decimal(0))


def test_the_chart_draws_the_reports_values():
    rng = np.random.default_rng(11)
    png = equity_curve_png(_curve(rng, 600, missing="some", scale=1e5), title="equity")
    assert png.startswith(b"\x89PNG")
