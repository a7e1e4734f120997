"""Shared fixtures: the real data beside the repo (../shared/data/real), fresh roots, a real Dagster instance."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest
from dagster import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_ALGORITHMS = REPO_ROOT / "algorithms"
REAL_DATA = Path(os.environ.get("ODUM_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
BTC_PERP = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
HAS_REAL_DATA = (REAL_DATA / "raw_tick_data" / "by_date").is_dir()
#: For modules that read the real data at import or collection time: ``pytestmark = requires_real_data``.
requires_real_data = pytest.mark.skipif(
    not HAS_REAL_DATA, reason=f"real data not found at {REAL_DATA} (expected ../shared/data/real beside the repo)"
)


@pytest.fixture(scope="session")
def real_raw_root() -> Path:
    """The real Binance futures windows, read in place (never copied into the repo)."""
    if not HAS_REAL_DATA:
        pytest.skip(f"real data not found at {REAL_DATA} (expected ../shared/data/real beside the repo)")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_catalog(real_raw_root, tmp_path_factory) -> Path:
    """Every real day converted once into a session catalog."""
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.layout import discover_raw_files

    root = tmp_path_factory.mktemp("real_catalog")
    for day, key in sorted({(f.day, f.instrument_key) for f in discover_raw_files(real_raw_root)}):
        convert_day(real_raw_root, root, day, key)
    return root


@pytest.fixture
def copy_real_day(real_raw_root, tmp_path):
    """Copy one real day's raw files into a fresh raw root (for tests that modify them)."""

    def copy(day: str, raw_root: Path | None = None) -> Path:
        raw_root = raw_root or tmp_path / "raw"
        source = real_raw_root / "raw_tick_data" / "by_date" / f"day-{day}"
        shutil.copytree(source, raw_root / "raw_tick_data" / "by_date" / f"day-{day}", dirs_exist_ok=True)
        for path in (raw_root / "raw_tick_data").rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        return raw_root

    return copy


@pytest.fixture(autouse=True, scope="session")
def isolated_var_root(tmp_path_factory):
    """Whatever the code writes under ./var by default (algorithm store, verdicts) goes to a temp dir."""
    previous = os.environ.get("ODUM_VAR_ROOT")
    os.environ["ODUM_VAR_ROOT"] = str(tmp_path_factory.mktemp("var"))
    yield
    if previous is None:
        os.environ.pop("ODUM_VAR_ROOT", None)
    else:
        os.environ["ODUM_VAR_ROOT"] = previous
