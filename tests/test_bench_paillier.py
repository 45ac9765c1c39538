"""Smoke test of the Paillier benchmark's command line (tiny sizes; not a timing test)."""

import json

import pytest

from fl_course.bench import paillier as bench

TINY = [
    "--parties",
    "3",
    "--params",
    "130",
    "--key-bits",
    "512",
    "--allow-small-keys",
    "--workers",
    "1",
]


@pytest.mark.parametrize(
    "extra", [["--naive-elements", "4"], ["--naive-elements", "500", "--single-core"]]
)
def test_main_prints_one_json_object(capsys, extra):
    assert bench.main(TINY + extra) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "naive_seconds",
        "naive_measured_elements",
        "packed_seconds",
        "speedup",
        "max_abs_error",
        "speedup_cpu",
        "ciphertexts",
        "cores",
        "goals_met",
        "slots_per_ciphertext",
        "rerandomised",
    ):
        assert key in result
    assert result["rerandomised"] is True
    assert result["tag_bits"] == 64
    assert result["ciphertexts_per_party"] == -(-130 // result["slots_per_ciphertext"])
    assert result["max_abs_error"] <= 1e-6
    assert result["naive_max_abs_error"] <= 1e-9
    assert result["naive_measured_elements"] == 3 * min(int(extra[1]), 130)
    assert (
        result["ciphertexts"] == 3 * result["ciphertexts_per_party"] < result["naive_ciphertexts"]
    )
    assert ("speedup_single_core" in result) == ("--single-core" in extra)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--parties", "0"], SystemExit),
        (["--params", "-5"], SystemExit),
        (["--naive-elements", "-1"], SystemExit),
        (["--key-bits", "512"], ValueError),
        (["--max-abs", "0.5", "--key-bits", "512", "--allow-small-keys"], None),
    ],
)
def test_bad_arguments_are_refused(capsys, argv, error):
    if error is None:  # vectors are clipped to --max-abs, so a small range still works
        assert bench.main(argv + ["--params", "20", "--parties", "2", "--workers", "1"]) == 0
        assert json.loads(capsys.readouterr().out)["max_abs_error"] <= 1e-6
    else:
        with pytest.raises(error):
            bench.main(argv)
