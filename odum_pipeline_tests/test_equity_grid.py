"""The equity curve's marks (``equity_grid.marks_at``) on the real windows, against NautilusTrader's own
decoding of the same catalog: the mid of the last snapshot with both sides priced at or before each
grid second (else the last trade), computed here from the ``OrderBookDepth10`` and ``TradeTick``
objects one by one."""

from __future__ import annotations

import bisect
import datetime as dt
import math

import numpy as np
import pytest

from odum_pipeline.backtests.equity_grid import GRID_NS, grid_times, marks_at
from odum_pipeline.catalog.store import open_catalog
from odum_pipeline_tests.conftest import requires_real_data

pytestmark = requires_real_data

INSTRUMENT = "BTCUSDT-PERP.BINANCE"  # the catalog's NautilusTrader id of the real windows
WINDOWS = [("2023-04-04T23:57:00", "2023-04-05T00:03:00"), ("2024-07-18T23:56:00", "2024-07-19T00:02:00")]


def _ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1e9)


def _expected_marks(catalog_root, times: np.ndarray, *, book: bool) -> list[float]:
    catalog = open_catalog(catalog_root)
    start, end = int(times[0]) - 3_600 * GRID_NS, int(times[-1])
    quotes = []
    if book:
        for depth in catalog.order_book_depth10(instrument_ids=[INSTRUMENT], start=start, end=end):
            bid, ask = depth.bids[0].price.as_double(), depth.asks[0].price.as_double()
            if bid > 0 and ask > 0:
                quotes.append((depth.ts_init, (bid + ask) / 2))
    trades = [(t.ts_init, t.price.as_double()) for t in catalog.trade_ticks(instrument_ids=[INSTRUMENT], start=start, end=end)]
    series = [([ts for ts, _ in rows], rows) for rows in (quotes, trades)]
    out = []
    for time in times.tolist():
        mark = math.nan
        for stamps, rows in series:
            index = bisect.bisect_right(stamps, time) - 1
            if index >= 0:
                mark = rows[index][1]
                break
        out.append(mark)
    return out


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: w[0][:10])
@pytest.mark.parametrize("book", [True, False], ids=["mid", "last_trade"])
def test_marks_are_the_last_mid_or_trade_at_each_grid_second(real_catalog, window, book):
    times = grid_times(_ns(window[0]), _ns(window[1]) + 7 * 10**8)  # the end off the grid: marked too
    marks = marks_at(real_catalog, INSTRUMENT, times, book=book)
    expected = _expected_marks(real_catalog, times, book=book)
    assert len(marks) == len(expected) == len(times)
    # The windows start before the data: no mark there yet (NaN), the same seconds on both sides.
    assert np.isnan(marks).tolist() == [math.isnan(m) for m in expected]
    assert 0 < np.isnan(marks).sum() < len(times) / 2
    marked = ~np.isnan(marks)
    assert marks[marked].tolist() == pytest.approx(np.array(expected)[marked].tolist(), rel=0, abs=1e-9)
