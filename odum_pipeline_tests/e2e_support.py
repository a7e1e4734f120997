"""Support for the end-to-end UI tests: a prepared Dagster home, the webserver and daemon, a throwaway
Postgres cluster, and headless Chromium through Playwright.

Every process started here runs in its own process group (session) and is stopped as a group:
SIGINT first (``dagster`` shuts its code server and run workers down cleanly on it), SIGKILL after
a timeout, and finally SIGKILL to any descendant that left the group. ``with`` blocks and pytest
fixtures guarantee the stop also on failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = Path(os.environ.get("ODUM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BTC_PERP = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
E2E_CONFIG = "e2e_btc_parents"
#: The e2e config: two parent orders on the synthetic sample, NORMAL vs TWAP (a few seconds each).
E2E_CONFIG_BODY = {
    "description": "UI end-to-end test: two parent orders, NORMAL vs TWAP, on the synthetic sample.",
    "instrument": {"id": BTC_PERP},
    "time_window": {"start": "2023-05-23T19:23:00Z", "end": "2023-05-23T19:27:00Z"},
    "strategy": {
        "submission_mode": "parent_orders",
        "parent_orders": [
            {"side": "BUY", "quantity": 0.5, "arrival": "2023-05-23T19:23:30Z", "deadline": "2023-05-23T19:24:30Z"},
            {"side": "SELL", "quantity": 0.3, "arrival": "2023-05-23T19:25:00Z", "deadline": "2023-05-23T19:26:00Z"},
        ],
        "close_positions": True,
    },
    "execution": {
        "algorithms": [{"name": "NORMAL"}, {"name": "TWAP", "params": {"horizon_secs": 60, "interval_secs": 10}}]
    },
    "environment": {"mode": "report"},
}


# ----------------------------------------------------------------------------------- locations


def artifacts_dir() -> Path:
    """Screenshots go to ``$ODUM_ARTIFACTS_DIR/screenshots`` (default ``./artifacts/screenshots``, gitignored)."""
    root = Path(os.environ.get("ODUM_ARTIFACTS_DIR", REPO_ROOT / "artifacts"))
    path = root / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (Debian: /usr/lib/postgresql/<major>/bin), newest first."""
    if os.environ.get("ODUM_PG_BINDIR"):
        given = Path(os.environ["ODUM_PG_BINDIR"])
        return given if (given / "initdb").exists() and (given / "pg_ctl").exists() else None
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------------- processes


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields_after_name = text.rsplit(")", 1)[1].split()
        children.setdefault(int(fields_after_name[1]), []).append(int(Path(stat).parent.name))
    return children


def descendants(pid: int) -> list[int]:
    children, found, todo = _children_map(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class ManagedProcess:
    """A command in its own process group, output to a log file, stopped as a whole group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = REPO_ROOT
    popen: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT to the process group, SIGKILL to the group and every descendant after ``timeout``."""
        if self.popen is None:
            return
        family = set(descendants(self.pid))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.popen.poll()
            family |= set(descendants(self.pid)) if self.popen.returncode is None else set()
            if self.popen.returncode is not None and not any(_alive(pid) for pid in family):
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in family:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


# ------------------------------------------------------------------------------------ postgres


@dataclass
class PostgresCluster:
    """A throwaway cluster (``initdb`` + ``pg_ctl``) on a free port in a temporary directory.

    As root it runs as the ``postgres`` user (the server refuses to run as root); otherwise as
    the current user. Trust authentication on 127.0.0.1 only; everything is deleted on stop.
    """

    bindir: Path
    port: int = field(default_factory=free_port)
    user: str = "postgres"  # the database superuser
    db_name: str = "dagster"
    root: Path | None = field(default=None, init=False)

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout)

    def start(self) -> PostgresCluster:
        self.root = Path(tempfile.mkdtemp(prefix="odum-e2e-pg-"))
        if os.geteuid() == 0:
            os.chown(self.root, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user, "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
                      "-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")  # fmt: skip
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"postgres did not start: {error.stderr}\n{self.log_tail()}") from error
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.db_name)
        return self

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError, AssertionError):
            return (self.root / "postgres.log").read_text(errors="replace")[-chars:]
        return ""

    def storage_yaml(self) -> str:
        return (
            "storage:\n"
            "  postgres:\n"
            "    postgres_db:\n"
            f"      username: {self.user}\n"
            "      password: ''\n"
            "      hostname: 127.0.0.1\n"
            f"      db_name: {self.db_name}\n"
            f"      port: {self.port}\n"
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
            "      scheme: postgresql+psycopg2\n"
        )

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            result = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30",
                               "stop", check=False)  # fmt: skip
            pid_file = self.data_dir / "postmaster.pid"
            if result.returncode != 0 and pid_file.exists():  # last resort: the postmaster and its children
                with contextlib.suppress(ValueError, OSError):
                    pid = int(pid_file.read_text().split()[0])
                    for victim in [pid, *descendants(pid)]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(victim, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------------------ dagster state


@dataclass
class Roots:
    """Every location the pipeline reads or writes, all under one temporary directory."""

    base: Path

    @property
    def home(self) -> Path:
        return self.base / "dagster_home"

    @property
    def raw(self) -> Path:
        return self.base / "raw"

    @property
    def catalog(self) -> Path:
        return self.base / "catalog"

    @property
    def results(self) -> Path:
        return self.base / "results"

    @property
    def configs(self) -> Path:
        return self.base / "configs"

    @property
    def algorithms(self) -> Path:
        return REPO_ROOT / "algorithms"  # read only

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    def env(self) -> dict[str, str]:
        """The environment of the webserver, the daemon and (inherited) their code servers and runs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PYTEST_"))}
        env.update(
            DAGSTER_HOME=str(self.home),
            ODUM_VAR_ROOT=str(self.base / "var"),
            UNIFIED_CLOUD_LOCAL_PATH=str(self.raw),
            DATA_CATALOG_PATH=str(self.catalog),
            BACKTEST_RESULTS_PATH=str(self.results),
            ODUM_CONFIGS_PATH=str(self.configs),
            ODUM_ALGORITHMS_PATH=str(self.algorithms),
            PYTHONUNBUFFERED="1",
        )
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        return env


def write_instance_yaml(roots: Roots, postgres: PostgresCluster | None = None) -> Path:
    """The repository's dagster.yaml (new-user modal off, its run queue and limits), with Postgres storage when given."""
    import yaml

    roots.home.mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()) or {}
    if postgres is not None:
        for key in ("storage", "run_storage", "event_log_storage", "schedule_storage"):
            settings.pop(key, None)
        settings.update(yaml.safe_load(postgres.storage_yaml()))
    path = roots.home / "dagster.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


@contextlib.contextmanager
def dagster_home(roots: Roots):
    """This process's DAGSTER_HOME (the instance's yaml may read it) set to the test's home, then restored."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(roots.home)
    try:
        yield roots.home
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _prepare_in_process(roots: Roots, log=print) -> dict:
    """Sample data, the catalog and the NORMAL backtest recorded in the instance, with the project's own code.

    Leaves the TWAP partition of the e2e config registered but not materialized: the test
    launches it from the UI.
    """
    from dagster import DagsterInstance, materialize

    from odum_pipeline import pipeline
    from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
    from odum_pipeline.catalog.sample import generate_default_sample

    generate_default_sample(roots.raw, instrument_keys=[BTC_PERP], start_time=dt.time(19, 20), end_time=dt.time(19, 30))
    roots.configs.mkdir(parents=True, exist_ok=True)
    (roots.configs / f"{E2E_CONFIG}.json").write_text(json.dumps(E2E_CONFIG_BODY, indent=1))
    resources = pipeline.storage_resources(roots.raw, roots.catalog, roots.results, roots.configs, roots.algorithms)
    with dagster_home(roots), DagsterInstance.from_config(str(roots.home)) as instance:
        catalog_done = pipeline.build_catalog(instance, resources, log=log)
        configs, algorithms = pipeline.new_source_partitions(instance, roots.configs, roots.algorithms)
        instance.add_dynamic_partitions(config_partitions.name, configs)
        instance.add_dynamic_partitions(algorithm_partitions.name, algorithms)
        for source in (pipeline.backtest_configs, pipeline.algorithm_registry):
            pipeline.observe([source], instance=instance, resources=resources, run_config=pipeline.QUIET_CONSOLE)
        result = materialize(
            pipeline.ALL_ASSETS,
            selection=[pipeline.backtest_run],
            partition_key=backtest_partition_key(E2E_CONFIG, "NORMAL"),
            instance=instance,
            resources=resources,
            run_config=pipeline.QUIET_CONSOLE,
        )
        normal_run_id = result.asset_materializations_for_node("backtest_run")[0].metadata["run_id"].value
    return {"catalog_partitions": catalog_done, "normal_run_id": normal_run_id}


def prepare_state(roots: Roots, timeout: float = 180) -> dict:
    """:func:`_prepare_in_process` in a child process with the servers' environment.

    A separate process keeps Dagster's in-process execution away from the test's Playwright event
    loop, and runs the preparation exactly as the webserver's code will see the environment.
    """
    roots.logs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "odum_pipeline_tests.e2e_support", "prepare", str(roots.base)],
        cwd=REPO_ROOT, env=roots.env(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    (roots.logs / "prepare.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"preparing the Dagster home failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ servers


def graphql(base_url: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              sensors { name sensorState { id status } }
              schedules { name scheduleState { id status } }
            }
          }
        }
      }
    }
  }
}
"""


@dataclass
class DagsterServers:
    """``dagster-webserver`` and ``dagster-daemon`` on the project's workspace, for one prepared home.

    The webserver starts first; every sensor and schedule is stopped through its GraphQL API
    before the daemon starts, so the daemon launches only what the test asks for (the UI's runs
    are queued; the daemon's run coordinator launches them).
    """

    roots: Roots
    port: int = field(default_factory=free_port)
    webserver: ManagedProcess | None = field(default=None, init=False)
    daemon: ManagedProcess | None = field(default=None, init=False)
    stopped_instigators: list[str] = field(default_factory=list, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> DagsterServers:
        env = self.roots.env()
        workspace = str(REPO_ROOT / "workspace.yaml")
        self.webserver = ManagedProcess(
            "webserver",
            [str(VENV_BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port), "-w", workspace],
            env,
            self.roots.logs / "webserver.log",
        ).start()
        self._wait_for_location(timeout)
        self.stopped_instigators = self._stop_automation()
        self.daemon = ManagedProcess(
            "daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", workspace], env, self.roots.logs / "daemon.log"
        ).start()
        self._wait_for_daemon(timeout)
        return self

    def _wait_for_location(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.webserver.running():
                raise RuntimeError(f"dagster-webserver exited early:\n{self.webserver.log_tail()}")
            try:
                data = graphql(self.url, WORKSPACE_QUERY, timeout=10)["workspaceOrError"]
                entries = data.get("locationEntries", [])
                last = entries
                if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                    if errors:
                        raise RuntimeError(f"code location failed to load: {errors}")
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"code location not loaded after {timeout}s ({last}):\n{self.webserver.log_tail()}")

    def _stop_automation(self) -> list[str]:
        stopped = []
        entries = graphql(self.url, WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
        for entry in entries:
            for repository in entry["locationOrLoadError"]["repositories"]:
                for sensor in repository["sensors"]:
                    if sensor["sensorState"]["status"] == "RUNNING":
                        graphql(self.url, "mutation($id: String) { stopSensor(id: $id) { __typename } }",
                                {"id": sensor["sensorState"]["id"]})  # fmt: skip
                        stopped.append(sensor["name"])
                for schedule in repository["schedules"]:
                    if schedule["scheduleState"]["status"] == "RUNNING":
                        graphql(self.url, "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                                {"id": schedule["scheduleState"]["id"]})  # fmt: skip
                        stopped.append(schedule["name"])
        return stopped

    def _wait_for_daemon(self, timeout: float) -> None:
        query = "query { instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
        deadline = time.monotonic() + timeout
        statuses = None
        while time.monotonic() < deadline:
            if not self.daemon.running():
                raise RuntimeError(f"dagster-daemon exited early:\n{self.daemon.log_tail()}")
            statuses = graphql(self.url, query)["instance"]["daemonHealth"]["allDaemonStatuses"]
            queued = [s for s in statuses if s["daemonType"] == "QUEUED_RUN_COORDINATOR"]
            if queued and all(s["healthy"] for s in queued):
                return
            time.sleep(1)
        raise TimeoutError(f"daemon not healthy after {timeout}s ({statuses}):\n{self.daemon.log_tail()}")

    def stop(self) -> None:
        for process in (self.daemon, self.webserver):
            if process is not None:
                process.stop()

    def __enter__(self) -> DagsterServers:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------------------------ browser


class RunFailed(AssertionError):
    pass


@dataclass
class DagsterUI:
    """Steps through the Dagster UI the way a user does, on one Playwright page."""

    page: object  # playwright.sync_api.Page
    base_url: str
    shots: Path
    prefix: str

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        path = self.shots / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def open_asset_graph(self) -> None:
        """The global lineage with every group expanded (the graph's own "Expand all groups", Alt+E)."""
        page = self.page
        page.goto(f"{self.base_url}/asset-groups")
        page.get_by_text("market_data", exact=True).first.wait_for()
        page.wait_for_timeout(500)  # let the graph finish its first layout before the shortcut
        page.keyboard.press("Alt+e")

    def launch_partition(self, asset: str, partition_by_dimension: list[str]) -> None:
        """Asset page -> Materialize... -> pick one key per dimension in the partition dialog -> Launch 1 run."""
        from playwright.sync_api import expect

        page = self.page
        page.goto(f"{self.base_url}/assets/{asset}")
        page.locator("button", has_text="Materialize").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text(f"Launch runs to materialize {asset}").wait_for()
        for value in partition_by_dimension:
            dialog.get_by_text("Select a partition or create one").first.click()
            page.get_by_placeholder("Filter partitions").fill(value)
            page.get_by_role("menuitem").filter(has=page.get_by_text(value, exact=True)).click()
            dialog.get_by_text(f"Launch runs to materialize {asset}").click()  # close the picker
            # The picker's popover fades out; opening the next dimension's picker before it is
            # gone leaves two "Filter partitions" inputs on the page.
            expect(page.get_by_placeholder("Filter partitions")).to_have_count(0)
        dialog.get_by_text("1 partition", exact=True).wait_for()
        dialog.get_by_role("button", name="Launch 1 run").click()

    def open_launched_run(self) -> str:
        """Follow the "Launched run ... View" toast to the run page; the run id from its URL."""
        import re

        page = self.page
        page.get_by_text("Launched run").first.wait_for()
        view = page.get_by_role("link", name="View")
        (view if view.count() else page.get_by_role("button", name="View")).first.click()
        page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
        return page.url.rstrip("/").rsplit("/", 1)[1].split("?")[0]

    def wait_for_run_success(self, timeout: float = 150) -> None:
        """Watch the run page's status tag (it updates live) until Success; fail at once on Failure/Canceled."""
        page = self.page
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if page.get_by_text("Success", exact=True).first.is_visible():
                return
            for bad in ("Failure", "Canceled"):
                if page.get_by_text(bad, exact=True).first.is_visible():
                    raise RunFailed(f"run {page.url} ended in {bad}")
            page.wait_for_timeout(1000)
        raise TimeoutError(f"run {page.url} did not succeed within {timeout}s")


if __name__ == "__main__":  # python -m odum_pipeline_tests.e2e_support prepare <base>
    if len(sys.argv) != 3 or sys.argv[1] != "prepare":
        sys.exit("usage: python -m odum_pipeline_tests.e2e_support prepare <base dir>")
    outcome = _prepare_in_process(Roots(Path(sys.argv[2])), log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(outcome))
