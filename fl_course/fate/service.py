"""Install, start, query and stop a standalone FATE Flow 2.2 service for the course.

FATE 2.2 pins packages that clash with the course's own environment (``pydantic==1.10.12``,
``scikit-learn==1.4.1``, ``typing-extensions==4.8.0`` against torch), so FATE lives in its own
virtual environment under ``<repo>/.fate/`` (git-ignored). The course environment only needs
``fate_client``, which talks to the service over HTTP.

Layout of the FATE home (``fate_home()``)::

    .fate/venv/          FATE 2.2.0 (pyfate + fate_flow), installed with uv
    .fate/home/          fate_flow's data, jobs, models, logs and sqlite database
    .fate/logs/          install.log and server.log written by this module
    .fate/state.json     host, ports and the process id that ``up`` started

Examples
--------
>>> from fl_course.fate import ensure_service
>>> info = ensure_service()            # doctest: +SKIP
>>> info.url                           # doctest: +SKIP
'http://127.0.0.1:9380'
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

FATE_VERSION = "2.2.0"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9380
DEFAULT_GRPC_PORT = 9360
#: fate_flow 2.2.0 pins typing-extensions==4.8.0; torch >= 2.5 needs >= 4.10.
OVERRIDES = ("typing-extensions>=4.10",)
START_TIMEOUT = 180.0
#: Seconds FATE Flow waits for its own scheduling calls (FATE's default, 10, is too short under
#: load).
HTTP_REQUEST_TIMEOUT = 120


class FateServiceError(RuntimeError):
    """The FATE Flow service could not be installed, started or reached; the message says why."""


@dataclasses.dataclass(frozen=True)
class ServiceInfo:
    """Where the service runs and what ``up`` did.

    Attributes
    ----------
    host, port, grpc_port
        Address of the FATE Flow HTTP and gRPC servers.
    pid
        Process id of the server this module started, or ``None`` when an already-running
        service (started elsewhere) was reused.
    started
        True when this call started the server, False when it was already answering.
    log
        The server's console log (stdout and stderr).
    install_seconds, start_seconds
        Wall-clock time spent installing the FATE environment and starting the server
        (0.0 when reused).
    """

    host: str
    port: int
    grpc_port: int
    pid: int | None
    started: bool
    log: Path
    install_seconds: float = 0.0
    start_seconds: float = 0.0

    @property
    def url(self) -> str:
        """Base URL of the FATE Flow HTTP API."""
        return f"http://{self.host}:{self.port}"


# --------------------------------------------------------------------------- paths
def repo_root() -> Path | None:
    """The course checkout holding ``pyproject.toml``, or None for an installed package."""
    import fl_course

    root = Path(fl_course.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def fate_home() -> Path:
    """Folder holding FATE's venv, home, logs and state.

    ``$FL_COURSE_FATE_HOME`` when set; else ``<repo>/.fate`` in a checkout; else
    ``~/.cache/fl_course/fate`` for an installed package.
    """
    env = os.environ.get("FL_COURSE_FATE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    if root is not None:
        return root / ".fate"
    return Path.home() / ".cache" / "fl_course" / "fate"


def venv_dir() -> Path:
    return fate_home() / "venv"


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def server_log() -> Path:
    return fate_home() / "logs" / "server.log"


def install_log() -> Path:
    return fate_home() / "logs" / "install.log"


def flow_home() -> Path:
    """fate_flow's ``--home``: its data, jobs, models, logs and sqlite database."""
    return fate_home() / "home"


def _state_file() -> Path:
    return fate_home() / "state.json"


def _read_state() -> dict:
    try:
        return json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {}


def _write_state(state: dict) -> None:
    _state_file().parent.mkdir(parents=True, exist_ok=True)
    _state_file().write_text(json.dumps(state, indent=2))


@contextmanager
def _lock():
    """Serialise ``up``/``down`` between processes (e.g. the Makefile and a notebook)."""
    fate_home().mkdir(parents=True, exist_ok=True)
    with open(fate_home() / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- checks
def _validate_address(host: str, port: int, grpc_port: int) -> None:
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string such as '127.0.0.1', got {host!r}.")
    for name, value in (("port", port), ("grpc_port", grpc_port)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise ValueError(f"{name} must be an integer between 1 and 65535, got {value!r}.")
    if port == grpc_port:
        raise ValueError(
            f"port and grpc_port must differ (both are {port}); pass e.g. --port 9380 --grpc-port "
            "9360."
        )


def answers(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 3.0) -> bool:
    """True when a FATE Flow server answers its site-info API at ``host:port``.

    A standalone site replies ``{"code": 3000, "message": "Site is standalone"}``; any JSON
    reply with a ``code`` shows the server is up.
    """
    body = _get_json(f"http://{host}:{port}/v2/site/info/query", timeout)
    return isinstance(body, dict) and "code" in body


def _get_json(url: str, timeout: float):
    """The JSON body at ``url``, or None when nothing answers there or the reply is not JSON."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8", "replace"))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def flow_version(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 10.0
) -> str | None:
    """The version FATE Flow reports at ``/v2/server/fateflow`` (e.g. ``"2.2.0"``), or None.

    None means nothing answers there, or what answers is not a FATE Flow 2.x server.
    """
    body = _get_json(f"http://{host}:{port}/v2/server/fateflow", timeout)
    data = body.get("data") if isinstance(body, dict) and body.get("code") == 0 else None
    versions = (
        [v.get("version") for v in data.values() if isinstance(v, dict)]
        if isinstance(data, dict)
        else []
    )
    return next((str(v) for v in versions if v), None)


def not_answering(host: str, port: int, detail: str = "") -> FateServiceError:
    """The error every helper raises when FATE Flow does not answer: the address and the fix."""
    return FateServiceError(
        f"FATE Flow is not answering at {host}:{port} — start it with `python -m fl_course.fate up`"
        + (f" ({detail})" if detail else "")
        + "."
    )


def _check_version(host: str, port: int) -> str:
    version = flow_version(host, port)
    if version is None or not version.startswith(FATE_VERSION.rsplit(".", 1)[0] + "."):
        raise FateServiceError(
            f"The service answering at http://{host}:{port} is not FATE Flow "
            f"{FATE_VERSION.rsplit('.', 1)[0]}.x (it reports "
            f"{('version ' + version) if version else 'no FATE Flow version'}). Stop it, or start "
            f"the course's FATE Flow elsewhere: `python -m fl_course.fate up --port {port + 1} "
            f"--grpc-port {DEFAULT_GRPC_PORT + 1}`."
        )
    return version


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_owner(port: int) -> str:
    """Describe the process listening on ``port`` ("pid 123: python server.py"), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if inodes:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                for fd in (proc / "fd").iterdir():
                    if os.readlink(fd) in inodes:
                        cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                        return f"pid {proc.name}: {cmd[:160]}"
            except OSError:
                continue
    return f"a process this user cannot inspect (try `lsof -i :{port}`)"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:]) or f"({path} is empty)"


# --------------------------------------------------------------------------- install
def _pip_sources() -> list[str]:
    """uv arguments mirroring pip's configured indexes and find-links (uv ignores pip.conf)."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    values: dict[str, list[str]] = {"index-url": [], "extra-index-url": [], "find-links": []}
    for line in out.splitlines():
        match = re.match(r"^[^.]*\.(index-url|extra-index-url|find-links)='(.*)'$", line.strip())
        if match:
            for item in match.group(2).split():
                if item not in values[match.group(1)]:
                    values[match.group(1)].append(item)
    args: list[str] = []
    if values["index-url"]:
        args += ["--index-url", values["index-url"][0]]
    for url in values["index-url"][1:] + values["extra-index-url"]:
        args += ["--extra-index-url", url]
    for link in values["find-links"]:
        args += ["--find-links", link]
    return args


def _torch_requirement(sources: list[str]) -> tuple[str, list[str]]:
    """Pin FATE's torch to the course environment's build (CPU wheels, no CUDA download)."""
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        version = None
    extra: list[str] = []
    if version is None:
        return "torch", extra
    if version.endswith("+cpu") and not sources:
        extra = ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    return f"torch=={version}", extra


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    import shutil

    found = shutil.which("uv")
    if not found:
        raise FateServiceError(
            "uv is needed to install FATE's environment; install it in the course environment "
            "with `pip install uv` (it is a dependency of fl_course) and run `up` again."
        )
    return found


def _installed_marker() -> Path:
    return venv_dir() / ".fl_course_installed"


def is_installed() -> bool:
    """True when the FATE environment exists and finished installing."""
    return _installed_marker().is_file() and (venv_dir() / "bin" / "fate_flow").exists()


def install(*, progress: bool = True) -> float:
    """Create the FATE venv with ``fate_client[fate,fate_flow]==2.2.0`` if it is not there.

    Returns
    -------
    float
        Seconds spent (0.0 when the environment already existed).

    Raises
    ------
    FateServiceError
        With uv's resolver message when the installation fails.
    """
    if is_installed():
        return 0.0
    start = time.perf_counter()
    uv = _uv()
    install_log().parent.mkdir(parents=True, exist_ok=True)
    sources = _pip_sources()
    torch_req, torch_extra = _torch_requirement(sources)
    overrides = fate_home() / "overrides.txt"
    overrides.write_text("\n".join(OVERRIDES) + "\n")
    # `fate_flow init` rewrites files inside the installed fate_flow package. uv links
    # installed files to its cache by default, so an earlier init elsewhere may have edited
    # the cached copy: drop it, and copy (never link) so that this init cannot edit the cache.
    # FATE Flow starts a fresh Python process for every stage of every task (component
    # definition, execution, clean-up), each importing torch, accelerate and sklearn. uv does
    # not write bytecode unless asked (pip does), and with PYTHONDONTWRITEBYTECODE set nothing
    # caches it later, so every process would compile those packages again: 9.6 s per import
    # of the HomoLR component instead of 3.7 s on the 2-core machine.
    steps = [
        [uv, "cache", "clean", "fate-flow"],
        [uv, "venv", "--seed", "--python", sys.executable, str(venv_dir())],
        [
            uv,
            "pip",
            "install",
            "--python",
            str(venv_python()),
            "--override",
            str(overrides),
            "--link-mode",
            "copy",
            "--compile-bytecode",
            "--index-strategy",
            "unsafe-best-match",
            *sources,
            *torch_extra,
            f"fate_client[fate,fate_flow]=={FATE_VERSION}",
            torch_req,
        ],
    ]
    env = {**os.environ, "UV_HTTP_TIMEOUT": os.environ.get("UV_HTTP_TIMEOUT", "180")}
    with open(install_log(), "w") as log:
        for step in steps:
            if progress:
                print(f"[fl_course.fate] $ {shlex.join(step)}", flush=True)
            log.write(f"$ {shlex.join(step)}\n")
            log.flush()
            result = subprocess.run(
                step, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
            )
            if result.returncode != 0:
                log.flush()
                raise FateServiceError(
                    f"Installing the FATE environment failed (exit {result.returncode}). "
                    f"The installer said:\n{_tail(install_log(), 25)}\n"
                    f"Full log: {install_log()}. Fix the cause (network, index, disk) and run "
                    "`python -m fl_course.fate up` again; delete "
                    f"{venv_dir()} to start from scratch."
                )
    check = subprocess.run(
        [str(venv_python()), "-c", "import fate_flow, fate; print(fate_flow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise FateServiceError(
            "The FATE environment installed but `import fate_flow, fate` fails:\n"
            f"{check.stderr[-2000:]}\nDelete {venv_dir()} and run `python -m fl_course.fate up` "
            "again."
        )
    _installed_marker().write_text(f"fate_client[fate,fate_flow]=={FATE_VERSION}\n{torch_req}\n")
    return time.perf_counter() - start


def _fate_flow_dir() -> Path:
    out = subprocess.run(
        [
            str(venv_python()),
            "-c",
            "import fate_flow, os; print(os.path.dirname(fate_flow.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _set_fateflow_keys(conf: Path, values: dict) -> None:
    """Set keys of the top-level ``fateflow:`` section of a FATE Flow service_conf.yaml."""
    lines = conf.read_text().splitlines(keepends=True)
    inside, found = False, set()
    for i, line in enumerate(lines):
        if re.match(r"^\S", line):
            inside = line.startswith("fateflow:")
            continue
        match = re.match(r"^(\s+)(\w+):", line)
        if inside and match and match.group(2) in values and len(match.group(1)) == 2:
            lines[i] = f"{match.group(1)}{match.group(2)}: {values[match.group(2)]}\n"
            found.add(match.group(2))
    missing = set(values) - found
    if missing:
        raise FateServiceError(
            f"{conf} has no fateflow.{', '.join(sorted(missing))}; is FATE {FATE_VERSION} "
            "installed?"
        )
    conf.write_text("".join(lines))


def _configure(host: str, port: int, grpc_port: int) -> Path:
    """Point FATE Flow at ``host:port`` (gRPC ``grpc_port``) with its home under ``.fate/home``.

    The first time this runs ``fate_flow init --ip --port --home``, which copies FATE Flow's
    configuration into ``<home>/conf`` and points the package's settings at the home. FATE 2.2's
    ``init`` refuses to run twice (the copy exists), so later calls edit ``<home>/conf`` directly.
    """
    flow_home().mkdir(parents=True, exist_ok=True)
    conf = flow_home() / "conf" / "service_conf.yaml"
    if not conf.is_file():
        result = subprocess.run(
            [
                str(venv_dir() / "bin" / "fate_flow"),
                "init",
                "--ip",
                host,
                "--port",
                str(port),
                "--home",
                str(flow_home()),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not conf.is_file():
            raise FateServiceError(
                f"`fate_flow init` failed:\n{result.stdout}\n{result.stderr[-3000:]}"
            )
    _set_fateflow_keys(conf, {"host": host, "http_port": port, "grpc_port": grpc_port})
    package = _fate_flow_dir()
    # FATE Flow calls its own HTTP API to schedule every party; its 10 s default times out on a
    # busy 2-core machine ("Federated schedule error ... Read timed out"), so allow more.
    settings = package / "settings.py"
    text = settings.read_text()
    text, count = re.subn(
        r"(?m)^HTTP_REQUEST_TIMEOUT\s*=\s*\d+.*$",
        f"HTTP_REQUEST_TIMEOUT = {HTTP_REQUEST_TIMEOUT}  # s (set by fl_course)",
        text,
    )
    if count == 1:
        settings.write_text(text)
    return package


# --------------------------------------------------------------------------- client config
def _pipeline_settings() -> Path | None:
    try:
        import fate_client
    except ImportError:
        return None
    return Path(fate_client.__file__).parent / "settings.yaml"


def configured_address() -> tuple[str, int] | None:
    """The (ip, port) the course environment's ``fate_client`` pipeline will talk to."""
    settings = _pipeline_settings()
    if settings is None or not settings.is_file():
        return None
    text = settings.read_text()
    ip = re.search(r"(?m)^\s+ip:\s*['\"]?([^'\"\s]+)", text)
    port = re.search(r"(?m)^\s+port:\s*['\"]?(\d+)", text)
    if not ip or not port:
        return None
    return ip.group(1), int(port.group(1))


def configure_client(host: str, port: int) -> None:
    """Run ``pipeline init --ip host --port port`` for the course environment's fate_client."""
    if configured_address() == (host, port):
        return
    if _pipeline_settings() is None:
        raise FateServiceError(
            "fate_client is not installed in this Python environment "
            f"({sys.executable}); install the course with `pip install -e .`."
        )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from fate_client.pipeline.pipeline_cli import pipeline_group; "
            "sys.exit(pipeline_group())",
            "init",
            "--ip",
            host,
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or configured_address() != (host, port):
        raise FateServiceError(
            f"`pipeline init --ip {host} --port {port}` did not take effect; fate_client points at "
            f"{configured_address()} ({_pipeline_settings()}).\n{result.stdout}{result.stderr}\n"
            "Check that the file is writable, or run the command by hand."
        )


# --------------------------------------------------------------------------- lifecycle
def status(host: str | None = None, port: int | None = None) -> dict:
    """Running or not, who started it, and where the logs are.

    Returns
    -------
    dict
        ``running`` (bool), ``ours`` (bool: started by ``up``), ``pid``, ``host``, ``port``,
        ``grpc_port``, ``log`` (server log), ``flow_logs`` (fate_flow's own log folder),
        ``installed`` (bool), ``home``.
    """
    state = _read_state()
    host = host or state.get("host", DEFAULT_HOST)
    port = port or state.get("port", DEFAULT_PORT)
    pid = state.get("pid")
    ours = _alive(pid) and state.get("host") == host and state.get("port") == port
    return {
        "running": answers(host, port),
        "ours": bool(ours),
        "pid": pid if ours else None,
        "host": host,
        "port": port,
        "grpc_port": state.get("grpc_port", DEFAULT_GRPC_PORT),
        "log": str(server_log()),
        "flow_logs": str(flow_home() / "logs"),
        "installed": is_installed(),
        "home": str(fate_home()),
    }


def up(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    grpc_port: int = DEFAULT_GRPC_PORT,
    *,
    timeout: float = START_TIMEOUT,
    progress: bool = True,
) -> ServiceInfo:
    """Install (once), configure and start FATE Flow; return when it answers.

    Idempotent: a service already answering at ``host:port`` is reused (and not recorded as
    ours, so ``down`` leaves it alone) once it reports FATE Flow 2.2.x; an existing FATE
    environment is reused. Task processes left by a server of ours that crashed (or that dies
    while starting) are stopped first: they stay in the crashed server's session.

    Parameters
    ----------
    host, port, grpc_port
        Address for the FATE Flow HTTP and gRPC servers.
    timeout
        Seconds to wait for the server to answer after it starts.
    progress
        Print what is happening.

    Returns
    -------
    ServiceInfo

    Raises
    ------
    ValueError
        For an invalid host or port.
    FateServiceError
        Port taken by another program (naming port and process), installation failure
        (with the resolver's message), server died or did not answer (with its log tail).
    """
    _validate_address(host, port, grpc_port)
    if "google.colab" in sys.modules:
        raise FateServiceError(
            "FATE Flow does not run on Colab (no persistent service, and FATE 2.2 pins packages "
            "that clash with Colab's). Run the FATE parts of this lab locally: clone the course "
            "and run `python -m fl_course.fate up`; the local HomoLR parts "
            "(fl_course.federation.homolr) run here."
        )
    say = (
        (lambda msg: print(f"[fl_course.fate] {msg}", flush=True))
        if progress
        else (lambda msg: None)
    )
    with _lock():
        state = _read_state()
        if answers(host, port):
            _check_version(host, port)
            configure_client(host, port)
            ours = (
                _alive(state.get("pid")) and state.get("port") == port and state.get("host") == host
            )
            say(
                f"FATE Flow already answers at http://{host}:{port}"
                + (
                    f" (pid {state['pid']}, started by fl_course)"
                    if ours
                    else " (not started by fl_course)"
                )
            )
            return ServiceInfo(
                host,
                port,
                state.get("grpc_port", grpc_port) if ours else grpc_port,
                state.get("pid") if ours else None,
                False,
                server_log(),
            )
        if _alive(state.get("pid")):
            if (state.get("host"), state.get("port")) != (host, port):
                raise FateServiceError(
                    f"A FATE Flow started by fl_course (pid {state['pid']}) already runs at "
                    f"http://{state.get('host')}:{state.get('port')}; use that address, or stop "
                    "it first with `python -m fl_course.fate down`."
                )
            # our server from an earlier `up` is alive but does not answer: restart it cleanly
            _stop_pid(state["pid"])
        elif state.get("pid"):
            # our server from an earlier `up` crashed: stop the task processes it left behind
            reaped = _reap_session(state["pid"])
            if reaped:
                say(
                    f"stopped {len(reaped)} process(es) left by a crashed FATE Flow (pid "
                    f"{state['pid']})"
                )
            _write_state({})
        for name, value in (("HTTP port", port), ("gRPC port", grpc_port)):
            if not _port_free(host, value):
                raise FateServiceError(
                    f"The FATE Flow {name} {value} on {host} is already in use by "
                    f"{port_owner(value)}. Stop that process, or choose other ports, e.g. `python "
                    f"-m fl_course.fate up --port {port + 1} --grpc-port {grpc_port + 1}`."
                )
        if not is_installed():
            say(
                f"installing FATE {FATE_VERSION} into {venv_dir()} (a few minutes, once; log: "
                f"{install_log()})"
            )
        install_seconds = install(progress=progress)
        if install_seconds:
            say(f"FATE environment installed in {install_seconds:.0f} s")
        t0 = time.perf_counter()
        package = _configure(host, port, grpc_port)
        server_log().parent.mkdir(parents=True, exist_ok=True)
        flow_home().mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PATH"] = f"{venv_dir() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_dir())
        env.pop("PYTHONPATH", None)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", "1")
        with open(server_log(), "ab") as log:
            log.write(
                f"\n==== fl_course.fate up {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n".encode()
            )
            log.flush()
            proc = subprocess.Popen(
                [str(venv_python()), str(package / "fate_flow_server.py")],
                cwd=str(flow_home()),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        _write_state(
            {
                "pid": proc.pid,
                "host": host,
                "port": port,
                "grpc_port": grpc_port,
                "started_at": time.time(),
                "log": str(server_log()),
            }
        )
        say(f"starting FATE Flow (pid {proc.pid}) at http://{host}:{port}, gRPC {grpc_port}")
        deadline = time.monotonic() + timeout
        while not answers(host, port, timeout=2.0):
            if proc.poll() is not None:
                _reap_session(proc.pid)
                _write_state({})
                raise FateServiceError(
                    f"FATE Flow exited with code {proc.returncode} while starting. Last lines of "
                    f"{server_log()}:\n{_tail(server_log())}\n"
                    f"fate_flow's own logs are under {flow_home() / 'logs'}."
                )
            if time.monotonic() > deadline:
                _stop_pid(proc.pid)
                _write_state({})
                raise FateServiceError(
                    f"FATE Flow did not answer at http://{host}:{port} within {timeout:.0f} s and "
                    f"was stopped. Last lines of {server_log()}:\n{_tail(server_log())}"
                )
            time.sleep(1.0)
        try:
            _check_version(host, port)
        except FateServiceError:
            _stop_pid(proc.pid)
            _write_state({})
            raise
        configure_client(host, port)
        start_seconds = time.perf_counter() - t0
        say(f"FATE Flow is up in {start_seconds:.0f} s; log: {server_log()}")
        return ServiceInfo(
            host,
            port,
            grpc_port,
            proc.pid,
            True,
            server_log(),
            install_seconds=install_seconds,
            start_seconds=start_seconds,
        )


def ensure_service(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    grpc_port: int = DEFAULT_GRPC_PORT,
    *,
    progress: bool = True,
) -> ServiceInfo:
    """Notebook entry point: return the running service, starting (and installing) it if needed."""
    return up(host, port, grpc_port, progress=progress)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().split(")")[-1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _session_members(sid: int) -> list[int]:
    """Processes whose session id is ``sid``: a server started with ``start_new_session`` leads its
    own session, and its task processes stay in it even after the server died and they were
    re-parented to init."""
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != sid:
            try:
                fields = (proc / "stat").read_text().split(")")[-1].split()
                if int(fields[3]) == sid:
                    members.append(int(proc.name))
            except (OSError, ValueError, IndexError):
                continue
    return members


def _terminate(targets: list[int], grace: float) -> None:
    for target in targets:
        try:
            os.kill(target, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(t) for t in targets):
        time.sleep(0.25)
    for target in targets:
        if _alive(target):
            try:
                os.kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _reap_session(pid: int, grace: float = 15.0) -> list[int]:
    """Stop what a dead server ``pid`` left behind (its session's processes); return their pids."""
    if _alive(pid):
        return []
    left = [p for p in _session_members(pid) if _alive(p)]
    _terminate(left, grace)
    return left


def _stop_pid(pid: int, grace: float = 15.0) -> None:
    """SIGTERM the server's process group and its descendants, SIGKILL after ``grace`` seconds."""
    targets = [pid, *_descendants(pid), *_session_members(pid)]
    targets = list(dict.fromkeys(targets))
    try:
        os.killpg(pid, signal.SIGTERM)  # the server leads its own session (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    _terminate(targets, grace)


def down(*, progress: bool = True) -> bool:
    """Stop the server that ``up`` started (and only it). Returns True if something was stopped."""
    with _lock():
        state = _read_state()
        pid = state.get("pid")
        if not _alive(pid):
            reaped = _reap_session(pid) if pid else []
            if progress:
                print(
                    "[fl_course.fate] no FATE Flow started by fl_course is running"
                    + (
                        f"; stopped {len(reaped)} process(es) its crashed server left behind"
                        if reaped
                        else ""
                    ),
                    flush=True,
                )
            _write_state({})
            return bool(reaped)
        _stop_pid(pid)
        _write_state({})
        if progress:
            print(f"[fl_course.fate] stopped FATE Flow (pid {pid})", flush=True)
        return True
