"""Tests for ``python -m fl_course doctor``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fl_course import doctor


def test_checks_cover_what_chapters_need():
    names = {c.name for c in doctor.run_checks()}
    assert {
        "python",
        "torch",
        "fate_client",
        "phe",
        "FATE environment",
        "FATE Flow service",
        "data",
    } <= names


def test_this_environment_has_the_packages():
    checks = {c.name: c for c in doctor.run_checks()}
    for name in ("python", "torch", "fate_client", "phe"):
        assert checks[name].status == doctor.OK, checks[name]


@pytest.mark.parametrize(
    "dist, version, name, status, hint",
    [
        ("pydantic", "2.7.0", "fate_client", doctor.FAIL, "pydantic<2"),
        ("ruamel.yaml", "0.18.6", "fate_client", doctor.FAIL, "ruamel.yaml<0.18"),
        ("fate_client", None, "fate_client", doctor.FAIL, "fate_client==2.2.0"),
        ("gmpy2", None, "phe", doctor.WARN, "gmpy2"),
        ("phe", None, "phe", doctor.FAIL, "pip install phe"),
    ],
)
def test_version_problems_come_with_a_fix(monkeypatch, dist, version, name, status, hint):
    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda d: version if d == dist else real(d))
    check = {c.name: c for c in doctor.run_checks()}[name]
    assert check.status == status
    assert hint in check.fix


def test_missing_data_folder_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("FL_COURSE_DATA", str(tmp_path / "nowhere"))
    check = doctor.check_data()
    assert check.status == doctor.FAIL and "FL_COURSE_DATA" in check.fix


def test_fate_not_installed_is_a_warning_with_the_up_command(monkeypatch, tmp_path):
    monkeypatch.setenv("FL_COURSE_FATE_HOME", str(tmp_path))
    checks = {c.name: c for c in doctor.check_fate_service()}
    assert checks["FATE environment"].status == doctor.WARN
    assert "python -m fl_course.fate up" in checks["FATE environment"].fix


def test_exit_codes(monkeypatch, capsys):
    monkeypatch.setattr(
        doctor, "run_checks", lambda: [doctor.Check("x", doctor.WARN, "slow", "do y")]
    )
    assert doctor.main([]) == 0
    assert doctor.main(["--strict"]) == 1
    monkeypatch.setattr(
        doctor, "run_checks", lambda: [doctor.Check("x", doctor.FAIL, "broken", "do z")]
    )
    assert doctor.main([]) == 1
    assert "fix: do z" in capsys.readouterr().out


def test_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "fl_course", "doctor"], capture_output=True, text=True
    )
    assert "torch" in result.stdout and "fate_client" in result.stdout
    assert result.returncode in (0, 1)
    bad = subprocess.run(
        [sys.executable, "-m", "fl_course", "nonsense"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "doctor" in bad.stderr


def test_lending_club_check(monkeypatch, tmp_path):
    import gzip

    monkeypatch.setenv("FL_COURSE_DATA", str(tmp_path))
    monkeypatch.setenv("FL_COURSE_CACHE", str(tmp_path / "cache"))
    missing = doctor.check_lending_club()
    assert missing.status == doctor.WARN and "raw.githubusercontent.com" in missing.fix
    (tmp_path / "lending_club").mkdir()
    (tmp_path / "lending_club" / "LoanStats3a_16col.csv.gz").write_bytes(
        gzip.compress(b"a,b\n1,2\n")
    )
    wrong = doctor.check_lending_club()
    assert wrong.status == doctor.FAIL and "not the published" in wrong.detail
