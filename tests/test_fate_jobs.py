"""Unit tests for fl_course.fate.jobs that need no running service (parsing, CSV format, checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fl_course.fate import jobs


def test_party_csv_format(tmp_path):
    df = pd.DataFrame({"a": [0.5, 1.5], "b": [2.0, 3.0], "label": [1, 0]})
    path = jobs.write_party_csv(df, tmp_path / "p.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "id,y,x0,x1"
    assert lines[1] == "0,1,0.5,2"


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"a": [0.5, 1.5]}), "label"),
        (pd.DataFrame({"a": [np.nan, 1.0], "label": [0, 1]}), "NaN"),
        (pd.DataFrame({"a": [1.0], "label": [1]}), "at least 2 rows"),
    ],
)
def test_party_csv_errors(tmp_path, frame, message):
    with pytest.raises(ValueError, match=message):
        jobs.write_party_csv(frame, tmp_path / "q.csv")


def test_party_csv_type_error(tmp_path):
    with pytest.raises(TypeError, match="DataFrame"):
        jobs.write_party_csv([[1, 2]], tmp_path / "q.csv")


@pytest.mark.parametrize("name", ["", "bad name", "semi;colon", None])
def test_table_names_are_checked(name):
    with pytest.raises(ValueError, match="namespace"):
        jobs._validate_name(name, "namespace")


def test_upload_needs_tables():
    with pytest.raises(ValueError, match="at least one table"):
        jobs.upload_tables({}, namespace="n")


def test_homo_lr_pipeline_checks_parties():
    with pytest.raises(ValueError, match="guest"):
        jobs.homo_lr_pipeline({"10000": "t"}, namespace="n", guest="9999")
    with pytest.raises(ValueError, match="two parties"):
        jobs.homo_lr_pipeline({"9999": "t"}, namespace="n")
    with pytest.raises(ValueError, match="epochs"):
        jobs.homo_lr_pipeline({"9999": "a", "10000": "b"}, namespace="n", epochs=0)


def test_homo_lr_pipeline_dag():
    """The DAG has the thesis' roles, full batch, zero init, and a guest-only test reader."""
    from ruamel.yaml import YAML

    pipeline, names = jobs.homo_lr_pipeline(
        {"9999": "g", "9998": "h1", "10000": "h2"},
        namespace="n",
        test_table="test",
        arbiter="10000",
        epochs=7,
        alpha=1.0,
    )
    pipeline.compile()
    dag = YAML(typ="safe").load(pipeline.get_dag())["dag"]
    roles = {p["role"]: p["party_id"] for p in dag["parties"]}
    assert roles == {"guest": ["9999"], "host": ["9998", "10000"], "arbiter": ["10000"]}
    params = dag["tasks"]["homo_lr_0"]["parameters"]
    assert params["epochs"] == 7 and params["batch_size"] == 2**30
    assert params["optimizer"]["method"] == "rmsprop" and params["optimizer"]["alpha"] == 1.0
    assert params["init_param"]["method"] == "zeros"
    assert names == {"model": "homo_lr_0", "evaluation": "evaluation_0"}
    assert [p["role"] for p in dag["tasks"]["reader_1"]["parties"]] == ["guest"]


def test_metrics_frame_flattens_fate_output():
    raw = [
        {
            "data": {
                "homo_lr_0": {
                    "train_set": [
                        {"metric": "auc", "val": 0.75},
                        [
                            {"metric": "ks", "val": 0.4},
                            {"metric": "ks_table", "val": {"cuts": [0.1]}},
                        ],
                    ],
                    "validate_set": [{"metric": "auc", "val": 0.77}],
                }
            }
        }
    ]
    frame = jobs._metrics_frame(raw)
    assert frame.to_dict("records") == [
        {"task": "homo_lr_0", "dataset": "train_set", "metric": "auc", "value": 0.75},
        {"task": "homo_lr_0", "dataset": "train_set", "metric": "ks", "value": 0.4},
        {"task": "homo_lr_0", "dataset": "validate_set", "metric": "auc", "value": 0.77},
    ]
    assert jobs._metrics_frame(None).empty


def test_model_weights_reads_fate_state_dict():
    model = {
        "output_model": {
            "param": {
                "model": {
                    "feature_num": 2,
                    "state_dict": {"models.0.weight": [[0.5, -1.0]], "models.0.bias": [0.25]},
                }
            }
        }
    }
    weights, bias = jobs.model_weights(model)
    assert weights.tolist() == [0.5, -1.0] and bias == 0.25
    assert jobs.model_weights(None) is None and jobs.model_weights({"x": 1}) is None


def test_scores_select_and_order_rows():
    preds = pd.DataFrame(
        {
            "id": [2, 0, 1, 0],
            "label": [1, 0, 1, 1],
            "predict_score": [0.9, 0.1, 0.8, 0.7],
            "type": ["validate_set", "validate_set", "validate_set", "train_set"],
        }
    )
    result = jobs.JobResult("j", "success", 1.0, pd.DataFrame(), pd.DataFrame(), preds)
    assert result.scores()["predict_score"].tolist() == [0.1, 0.8, 0.9]
    assert result.scores("train_set")["predict_score"].tolist() == [0.7]
    assert result.summary()["job_id"] == "j"
    assert result.test_scores([0, 1, 1]).tolist() == [0.1, 0.8, 0.9]
    with pytest.raises(ValueError, match="do not line up with the 3 test labels"):
        result.test_scores([1, 1, 0])
    with pytest.raises(ValueError, match="3 test predictions"):
        result.test_scores([0, 1])


def test_run_pipeline_rejects_bad_timeout():
    with pytest.raises(ValueError, match="timeout"):
        jobs.run_pipeline(object(), output_task="x", timeout=0)


# --------------------------------------------------------------------------- service down
def _closed_port() -> int:
    """A real port on which nothing listens (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def service_down(tmp_path, monkeypatch):
    """Point the helpers at a real closed port (through up's state file in a scratch FATE home)."""
    import json

    home = tmp_path / "fate"
    home.mkdir()
    port = _closed_port()
    (home / "state.json").write_text(json.dumps({"host": "127.0.0.1", "port": port}))
    monkeypatch.setenv("FL_COURSE_FATE_HOME", str(home))
    return port


def _down_calls():
    df = pd.DataFrame({"a": [0.5, 1.5], "label": [1, 0]})
    job = jobs.SubmittedJob("202601010000000000", "9999", "homo_lr_0", None, 0.0)
    return {
        "upload_tables": lambda: jobs.upload_tables({"t": df}, namespace="n", progress=False),
        "table_exists": lambda: jobs.table_exists("n", "t"),
        "submit_homo_lr": lambda: jobs.submit_homo_lr({"9999": "a", "10000": "b"}, namespace="n"),
        "submit_pipeline": lambda: jobs.submit_pipeline(object(), output_task="x"),
        "wait_for": lambda: jobs.wait_for(job, progress=False),
        "run_homo_lr": lambda: jobs.run_homo_lr(
            {"9999": "a", "10000": "b"}, namespace="n", progress=False
        ),
        "task_table": lambda: jobs.task_table("j"),
        "job_report": lambda: jobs.job_report("j"),
    }


@pytest.mark.parametrize("name", list(_down_calls()))
def test_every_helper_names_a_service_that_is_down(service_down, name):
    import time

    from fl_course.fate import service

    start = time.perf_counter()
    with pytest.raises(service.FateServiceError) as err:
        _down_calls()[name]()
    assert time.perf_counter() - start < 10
    assert f"FATE Flow is not answering at 127.0.0.1:{service_down}" in str(err.value)
    assert "python -m fl_course.fate up" in str(err.value)


class _RefusingFlow:
    """fate_client's FlowClient as it behaves when the server went away mid-job (its real reply)."""

    ip, port = "127.0.0.1", 9

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return {
            "code": 100,
            "retmsg": "Connection refused, Please check if the fate flow service is started",
        }


def test_service_dying_during_a_wait_is_named_not_reported_as_hung():
    from fl_course.fate import service

    with pytest.raises(service.FateServiceError, match="not answering at 127.0.0.1:9"):
        jobs._wait(_RefusingFlow(), "j", "guest", "9999", timeout=600, progress=False, desc="x")


def test_a_missing_table_is_not_a_service_error():
    class NoTable:
        ip, port = "127.0.0.1", 9380
        table = type(
            "T",
            (),
            {"query": staticmethod(lambda **k: {"code": 7001, "message": "No found table"})},
        )

    assert jobs.table_exists("n", "t", flow=NoTable()) is False


def test_interrupting_a_wait_stops_the_job():
    stopped = []

    class Flow:
        ip, port = "127.0.0.1", 9380

        class job:  # noqa: N801 - mirrors fate_client's attribute names
            @staticmethod
            def query(**kwargs):
                raise KeyboardInterrupt

            @staticmethod
            def stop(job_id):
                stopped.append(job_id)
                return {"code": 0}

    with pytest.raises(KeyboardInterrupt, match="stopped it with `job stop`"):
        jobs._wait(Flow(), "job42", "guest", "9999", timeout=600, progress=False, desc="x")
    assert stopped == ["job42"]
