"""Tests for fl_course.fate: the service's command line and errors, and one real FATE HomoLR job.

The unit tests use a throw-away FATE home (``FL_COURSE_FATE_HOME``) and never touch a running
service. The integration test (``-m fate``) starts the real FATE Flow service if it is not
running, runs one small two-party HomoLR job through fate_client, and stops the service only if
it started it.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from fl_course.fate import jobs, service


@pytest.fixture
def scratch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FL_COURSE_FATE_HOME", str(tmp_path / "fate"))
    return tmp_path / "fate"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_home_follows_env_and_repo(scratch_home, monkeypatch):
    assert service.fate_home() == scratch_home.resolve()
    monkeypatch.delenv("FL_COURSE_FATE_HOME")
    root = service.repo_root()
    assert service.fate_home() == (
        root / ".fate" if root else service.Path.home() / ".cache" / "fl_course" / "fate"
    )


@pytest.mark.parametrize(
    "host, port, grpc, message",
    [
        ("", 9380, 9360, "host"),
        ("127.0.0.1", 0, 9360, "port"),
        ("127.0.0.1", 9380, 70000, "grpc_port"),
        ("127.0.0.1", 9380, 9380, "differ"),
        ("127.0.0.1", "9380", 9360, "port"),
    ],
)
def test_bad_addresses(scratch_home, host, port, grpc, message):
    with pytest.raises(ValueError, match=message):
        service.up(host, port, grpc, progress=False)


def test_port_in_use_names_port_and_process(scratch_home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(service.FateServiceError) as err:
            service.up("127.0.0.1", busy, _free_port(), progress=False)
    text = str(err.value)
    assert f"HTTP port {busy}" in text
    assert "python" in text or "cannot inspect" in text
    assert "--port" in text  # the way out


def test_port_owner_finds_this_process():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        owner = service.port_owner(sock.getsockname()[1])
    import os

    assert owner.startswith(f"pid {os.getpid()}") or "cannot inspect" in owner


def test_pip_sources_are_passed_to_uv(monkeypatch):
    out = (
        "global.extra-index-url='file:///a/simple file:///b/simple'\n"
        "global.find-links='/opt/wheels'\n:env:.find-links='/opt/wheels'\nglobal.timeout='60'\n"
    )
    monkeypatch.setattr(
        service.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=out, stderr=""),
    )
    assert service._pip_sources() == [
        "--extra-index-url",
        "file:///a/simple",
        "--extra-index-url",
        "file:///b/simple",
        "--find-links",
        "/opt/wheels",
    ]


def test_install_failure_shows_the_resolver_message(scratch_home, monkeypatch):
    def fake_run(cmd, **kwargs):
        if "pip" in cmd and "install" in cmd:
            kwargs["stdout"].write(
                "  x No solution found when resolving dependencies:\n"
                "  -> typing-extensions==4.8.0 conflicts\n"
            )
            return subprocess.CompletedProcess(cmd, 1)
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")

    scratch_home.mkdir(parents=True)
    monkeypatch.setattr(service.subprocess, "run", fake_run)
    with pytest.raises(service.FateServiceError, match="No solution found") as err:
        service.install(progress=False)
    assert "fl_course.fate up" in str(err.value)


def test_status_and_down_when_nothing_runs(scratch_home):
    port = _free_port()
    st = service.status("127.0.0.1", port)
    assert (
        st["running"] is False and st["ours"] is False and st["log"].startswith(str(scratch_home))
    )
    assert service.down(progress=False) is False


def test_command_line_status_and_down(scratch_home):
    port = str(_free_port())
    status = subprocess.run(
        [sys.executable, "-m", "fl_course.fate", "status", "--port", port],
        capture_output=True,
        text=True,
    )
    assert (
        status.returncode == 3 and "not running" in status.stdout and "server log" in status.stdout
    )
    down = subprocess.run(
        [sys.executable, "-m", "fl_course.fate", "down"], capture_output=True, text=True
    )
    assert down.returncode == 0


def _fake_fate(monkeypatch, tmp_path, body: str):
    """Pretend FATE is installed; its 'server' is the Python script ``body``."""
    package = tmp_path / "fake_fate_flow"
    package.mkdir()
    (package / "fate_flow_server.py").write_text(body)
    monkeypatch.setattr(service, "install", lambda progress=True: 0.0)
    monkeypatch.setattr(service, "_configure", lambda host, port, grpc: package)
    monkeypatch.setattr(service, "venv_python", lambda: service.Path(sys.executable))
    monkeypatch.setattr(service, "configure_client", lambda host, port: None)


def test_server_dying_at_start_shows_its_log(scratch_home, monkeypatch, tmp_path):
    _fake_fate(
        monkeypatch,
        tmp_path,
        "import sys\nprint('sqlite3.OperationalError: database is locked')\nsys.exit(3)\n",
    )
    with pytest.raises(service.FateServiceError) as err:
        service.up("127.0.0.1", _free_port(), _free_port(), progress=False, timeout=60)
    assert "exited with code 3" in str(err.value) and "database is locked" in str(err.value)
    assert service.status()["pid"] is None


def test_server_that_never_answers_is_stopped(scratch_home, monkeypatch, tmp_path):
    _fake_fate(
        monkeypatch, tmp_path, "import time\nprint('starting', flush=True)\ntime.sleep(600)\n"
    )
    with pytest.raises(service.FateServiceError, match="did not answer"):
        service.up("127.0.0.1", _free_port(), _free_port(), progress=False, timeout=3)
    assert service.down(progress=False) is False  # nothing left behind


def test_lifecycle_with_a_stand_in_server(scratch_home, monkeypatch, tmp_path):
    """up starts and records the server, up again reuses it, down stops only it."""
    port = _free_port()
    server = (
        "import http.server, json\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = json.dumps({'code': 3000, 'message': 'Site is standalone'}).encode()\n"
        "        if self.path.startswith('/v2/server/fateflow'):\n"
        "            flow = {'code': 0, 'data': {'flow': {'version': '2.2.0'}}}\n"
        "            body = json.dumps(flow).encode()\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    _fake_fate(monkeypatch, tmp_path, server)
    first = service.up("127.0.0.1", port, _free_port(), progress=False, timeout=60)
    try:
        assert first.started and first.pid and service.answers("127.0.0.1", port)
        st = service.status()
        assert st["running"] and st["ours"] and st["pid"] == first.pid
        again = service.up("127.0.0.1", port, first.grpc_port, progress=False)
        assert not again.started and again.pid == first.pid
        with pytest.raises(service.FateServiceError, match="already runs"):
            service.up("127.0.0.1", _free_port(), _free_port(), progress=False)
    finally:
        assert service.down(progress=False) is True
    assert not service.answers("127.0.0.1", port)
    assert service.down(progress=False) is False


def _stand_in(port: int, version: str | None) -> str:
    reply = (
        ("{'code': 0, 'data': {'flow': {'version': %r}}}" % version) if version else "{'code': 404}"
    )
    return (
        "import http.server, json\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        reply = {reply} if 'fateflow' in self.path else {{'code': 3000}}\n"
        "        body = json.dumps(reply).encode()\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )


@pytest.mark.parametrize("version", ["1.11.4", None])
def test_a_service_that_is_not_fate_flow_2_2_is_refused(scratch_home, tmp_path, version):
    import time

    port = _free_port()
    script = tmp_path / "other_server.py"
    script.write_text(_stand_in(port, version))
    other = subprocess.Popen([sys.executable, str(script)])
    try:
        for _ in range(100):
            if service.answers("127.0.0.1", port, timeout=0.5):
                break
            time.sleep(0.1)
        with pytest.raises(service.FateServiceError, match="not FATE Flow 2.2.x") as err:
            service.up("127.0.0.1", port, _free_port(), progress=False)
        assert (f"version {version}" if version else "no FATE Flow version") in str(err.value)
        assert service.flow_version("127.0.0.1", port) == version
    finally:
        other.terminate()
        other.wait(10)


def test_children_of_a_server_that_crashes_while_starting_are_reaped(
    scratch_home, monkeypatch, tmp_path
):
    marker = tmp_path / "child.pid"
    _fake_fate(
        monkeypatch,
        tmp_path,
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(1)\nsys.exit(4)\n",
    )
    with pytest.raises(service.FateServiceError, match="exited with code 4"):
        service.up("127.0.0.1", _free_port(), _free_port(), progress=False, timeout=60)
    assert not service._alive(int(marker.read_text()))


def test_children_left_by_a_server_that_crashed_earlier_are_reaped(scratch_home):
    """A crashed server's task processes stay in its session: `down` (and `up`) stop them."""
    crashed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "print(c.pid, flush=True)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(crashed.stdout.readline())
    crashed.wait(10)
    assert service._alive(child) and not service._alive(crashed.pid)
    service._write_state({"pid": crashed.pid, "host": "127.0.0.1", "port": _free_port()})
    assert service.down(progress=False) is True
    assert not service._alive(child)


# --------------------------------------------------------------------------- integration
@pytest.fixture(scope="module")
def fate_service():
    info = service.up(progress=False)
    yield info
    if info.started:
        service.down(progress=False)


@pytest.mark.fate
def test_real_two_party_homo_lr_job(fate_service):
    import pandas as pd

    from fl_course import credit
    from fl_course.data.lending_club import load_lending_club

    loans = load_lending_club()
    sample = pd.concat([loans[loans["label"] == c].sample(300, random_state=0) for c in (0, 1)])
    (train,) = credit.standardize(sample.reset_index(drop=True))
    guest, host = train.iloc[::2], train.iloc[1::2]
    uploaded = jobs.upload_tables(
        {"it_guest": guest, "it_host": host},
        namespace="fl_course_test",
        timeout=1500,
        progress=False,
    )
    assert uploaded["exists"].all()

    assert service.flow_version().startswith("2.2.")
    with pytest.raises(ValueError, match="no table"):
        jobs.run_homo_lr({"9999": "it_guest", "10000": "it_missing"}, namespace="fl_course_test")

    result = jobs.run_homo_lr(
        {"9999": "it_guest", "10000": "it_host"},
        namespace="fl_course_test",
        arbiter="10000",
        epochs=5,
        learning_rate=0.05,
        alpha=0.01,
        timeout=1500,
        progress=False,
    )
    assert result.status == "success" and result.job_id
    assert set(result.tasks["status"]) == {"success"}
    scores = result.scores("train_set")
    auc = credit.evaluate(scores["label"], scores["predict_score"])["auc"]
    # chance is 0.5; the 16-column export reaches about 0.67 centralised on all 39,736 loans
    assert auc > 0.6, f"FATE HomoLR AUC {auc:.3f} on its training rows: the job learned nothing"
    fate_auc = result.metrics.query("metric == 'auc'")["value"]
    assert len(fate_auc) and abs(float(fate_auc.iloc[0]) - auc) < 1e-3
    weights = jobs.model_weights(result.model)
    assert weights is not None and len(weights[0]) == train.shape[1] - 1
