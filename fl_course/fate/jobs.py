"""Upload party tables to FATE Flow and run FATE pipelines with a timeout and a readable report.

The functions talk to the service started by :mod:`fl_course.fate.service` through
``fate_client`` (FATE 2.2): ``FlowClient`` for uploads, job status, logs and outputs, and
``FateFlowPipeline`` + components (Reader, HomoLR, Evaluation) to describe jobs.

Examples
--------
>>> from fl_course.fate import ensure_service, jobs
>>> ensure_service()                                                    # doctest: +SKIP
>>> tables = {"bank_a": df_a, "bank_b": df_b, "test": df_test}         # doctest: +SKIP
>>> jobs.upload_tables(tables, namespace="lc")                          # doctest: +SKIP
>>> result = jobs.run_homo_lr({"9999": "bank_a", "10000": "bank_b"}, test_table="test",
...                           namespace="lc", arbiter="10000")         # doctest: +SKIP
>>> result.summary()                                                    # doctest: +SKIP
>>> result.scores("validate_set")[["id", "label", "predict_score"]]   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fl_course.fate import service

TERMINAL = {"success", "failed", "canceled", "timeout"}
DEFAULT_TIMEOUT = 600.0
LABEL = "label"


class FateJobError(RuntimeError):
    """A FATE job failed or timed out. ``report`` holds the task table and the failing log tail."""

    def __init__(self, message: str, job_id: str | None = None, report: str = ""):
        super().__init__(f"{message}\n{report}".strip())
        self.job_id = job_id
        self.report = report


@dataclasses.dataclass
class JobResult:
    """What a finished FATE job produced.

    Attributes
    ----------
    job_id, status
        FATE Flow's job id and final status (``"success"``).
    elapsed
        Wall-clock seconds from submission to the final status, measured by the client.
    tasks
        One row per task and party: ``task_name``, ``role``, ``party_id``, ``status``,
        ``elapsed`` (seconds, as FATE Flow recorded them).
    metrics
        FATE's own Evaluation output as a tidy table (``task``, ``dataset``, ``metric``, ``value``).
    predictions
        The guest's prediction output: ``id`` (row position in the uploaded table), ``label``,
        ``predict_score`` (probability of label 1), ``predict_result``, ``type``
        (``train_set`` or ``validate_set``).
    model
        The guest's trained model as FATE stores it (a dict), or None.
    """

    job_id: str
    status: str
    elapsed: float
    tasks: pd.DataFrame
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    model: dict | None = None

    def scores(self, dataset: str = "validate_set") -> pd.DataFrame:
        """Predictions for one data set type (``train_set`` or ``validate_set``) in upload order.

        Rows are sorted by the ``id`` column written by :func:`write_party_csv` (the row's
        position in the uploaded table).
        """
        df = self.predictions
        if "type" in df:
            df = df[df["type"] == dataset]
        return df.sort_values("id").reset_index(drop=True)

    def test_scores(self, labels) -> np.ndarray:
        """FATE's predicted probability of label 1 for every test row, in test-set order.

        Parameters
        ----------
        labels : array_like of int
            The test set's labels in upload order; FATE's ``validate_set`` predictions must
            carry exactly these, or they belong to another table.

        Returns
        -------
        numpy.ndarray
            ``predict_score`` per test row, aligned with ``labels``.
        """
        labels = np.asarray(labels)
        scores = self.scores("validate_set")
        if len(scores) != len(labels) or not (scores["label"].to_numpy() == labels).all():
            raise ValueError(
                f"FATE returned {len(scores)} test predictions that do not line up with the "
                f"{len(labels)} test labels; pass the labels of the table uploaded as test_table."
            )
        return scores["predict_score"].to_numpy(dtype=float)

    def summary(self) -> pd.Series:
        """Job id, status and elapsed seconds as a small series (for display)."""
        return pd.Series(
            {"job_id": self.job_id, "status": self.status, "elapsed_s": round(self.elapsed, 1)}
        )


# --------------------------------------------------------------------------- client
def client(host: str | None = None, port: int | None = None):
    """A ``fate_client`` FlowClient for the course's service (address from ``up``'s state).

    Raises
    ------
    FateServiceError
        Within seconds when nothing answers at that address ("FATE Flow is not answering at
        host:port — start it with ``python -m fl_course.fate up``").
    """
    from fate_client.flow_sdk import FlowClient

    st = service.status(host, port)
    # a refused connection fails at once; a busy server gets a second, longer chance
    if not st["running"] and not service.answers(st["host"], st["port"], timeout=15.0):
        raise service.not_answering(st["host"], st["port"])
    return FlowClient(ip=st["host"], port=st["port"], version="v2")


def _reply(flow, response):
    """FATE Flow's reply, or the service-down error when fate_client could not reach it.

    fate_client turns every connection failure into ``{"code": 100, "retmsg": ...}``; without
    this check a refused connection reads as "no such table" or a job that never ends.
    """
    if isinstance(response, dict) and response.get("code") == 100 and "retmsg" in response:
        raise service.not_answering(flow.ip, flow.port, str(response["retmsg"])[:200])
    return response


def _check(response, what: str, flow=None) -> dict:
    if flow is not None:
        _reply(flow, response)
    if not isinstance(response, dict):
        raise FateJobError(f"{what}: FATE Flow returned {response!r}.")
    if response.get("code") != 0:
        message = response.get("message") or response.get("retmsg") or response
        raise FateJobError(
            f"{what} failed: {message}. Is the service up? Try `python -m fl_course.fate status`."
        )
    return response


def _validate_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or not all(c.isalnum() or c in "_-." for c in value):
        raise ValueError(
            f"{what} must be a non-empty string of letters, digits, '_', '-' or '.', got {value!r}."
        )
    return value


# --------------------------------------------------------------------------- uploads
def table_exists(namespace: str, name: str, *, flow=None) -> bool:
    """True when FATE Flow has a table ``namespace.name`` with data in it."""
    flow = flow or client()
    response = _reply(flow, flow.table.query(namespace=namespace, name=name))
    return isinstance(response, dict) and response.get("code") == 0 and bool(response.get("data"))


def write_party_csv(df: pd.DataFrame, path: str | Path, *, label: str = LABEL) -> Path:
    """Write a party's table as FATE expects it: ``id`` first, then ``label``, then features."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame for a party table, got {type(df).__name__}.")
    if label not in df:
        raise ValueError(
            f"The party table has no label column {label!r}; its columns are "
            f"{list(df.columns)[:8]}..."
        )
    if len(df) < 2:
        raise ValueError(f"A party table needs at least 2 rows, got {len(df)}.")
    features = [c for c in df.columns if c != label]
    values = df[features].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(
            "The party table contains NaN or infinite features; clean or impute them before "
            "uploading."
        )
    out = pd.DataFrame({"id": np.arange(len(df))})
    out["y"] = df[label].astype(int).to_numpy()
    out[[f"x{i}" for i in range(len(features))]] = values
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, float_format="%.8g")
    return path


def _wait(
    flow,
    job_id: str,
    role: str,
    party_id: str,
    timeout: float,
    progress: bool,
    desc: str,
    start: float | None = None,
) -> tuple[str, float]:
    """Poll a job until it ends; stop it after ``timeout`` seconds. Returns (status, seconds).

    An interrupt (Ctrl-C, Jupyter's stop button) stops the FATE job too and says so; a
    service that stops answering raises :class:`~fl_course.fate.service.FateServiceError`.
    """
    start = time.perf_counter() if start is None else start
    try:
        return _poll(flow, job_id, role, party_id, timeout, progress, desc, start)
    except KeyboardInterrupt:
        stopped = _reply(flow, flow.job.stop(job_id=job_id))
        how = (
            "stopped it with `job stop`"
            if isinstance(stopped, dict) and stopped.get("code") == 0
            else f"`job stop` answered {stopped!r}"
        )
        raise KeyboardInterrupt(
            f"Interrupted while waiting for FATE job {job_id}; {how}."
        ) from None


def _poll(flow, job_id, role, party_id, timeout, progress, desc, start) -> tuple[str, float]:
    status, shown = "waiting", None
    with tqdm(
        total=None,
        desc=desc,
        disable=not progress,
        leave=False,
        bar_format="{desc} [{elapsed}] {postfix}",
    ) as bar:
        while True:
            response = _reply(flow, flow.job.query(job_id=job_id, role=role, party_id=party_id))
            if isinstance(response, dict) and response.get("code") == 0 and response.get("data"):
                status = response["data"][0]["status"]
            if status in TERMINAL:
                break
            if time.perf_counter() - start > timeout:
                flow.job.stop(job_id=job_id)
                status = "timeout"
                break
            running = _reply(
                flow, flow.task.query(job_id=job_id, role=role, party_id=party_id, status="running")
            )
            names = (
                sorted({t["task_name"] for t in running.get("data", [])})
                if isinstance(running, dict)
                else []
            )
            text = f"{status}: {', '.join(names) or '-'}"
            if text != shown:  # redraw only when something changes: no walls of lines in text mode
                bar.set_postfix_str(text)
                shown = text
            time.sleep(2.0)
    return status, time.perf_counter() - start


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _submit_upload(flow, path: Path, namespace: str, name: str) -> str:
    meta = {
        "delimiter": ",",
        "dtype": "float32",
        "label_type": "int64",
        "label_name": "y",
        "match_id_name": "id",
    }
    response = _check(
        flow.data.upload_file(
            file=str(path),
            head=True,
            partitions=1,
            meta=meta,
            namespace=namespace,
            name=name,
            extend_sid=True,
        ),
        f"Uploading {namespace}.{name}",
        flow,
    )
    return response["job_id"]


def upload_table(
    df: pd.DataFrame,
    namespace: str,
    name: str,
    *,
    label: str = LABEL,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> dict:
    """Upload one party table; see :func:`upload_tables`."""
    return (
        upload_tables({name: df}, namespace, label=label, timeout=timeout, progress=progress)
        .iloc[0]
        .to_dict()
    )


def upload_tables(
    tables: Mapping[str, pd.DataFrame],
    namespace: str,
    *,
    label: str = LABEL,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> pd.DataFrame:
    """Write party tables to CSV, upload them into FATE as DataFrames, confirm each exists.

    This is what ``FateFlowPipeline.transform_local_file_to_dataframe`` does (FATE Flow's
    ``/data/component/upload/file`` endpoint: an upload task, then a transformer task), but all
    uploads are submitted at once and waited for with a timeout. A table FATE already holds with
    exactly the same content (same CSV bytes as the last upload from here) is reused, not
    uploaded again.

    Parameters
    ----------
    tables
        Table name -> DataFrame of float features and an integer ``label`` column.
    namespace
        FATE namespace for the tables.
    timeout
        Seconds to wait for all uploads together.

    Returns
    -------
    pandas.DataFrame
        One row per table: ``namespace``, ``name``, ``rows``, ``features``, ``job_id``, ``status``
        (``success`` or ``reused (same content)``), ``exists`` (confirmed through FATE Flow's
        table API).
    """
    if not tables:
        raise ValueError("Pass at least one table to upload, e.g. {'bank_a': df_a}.")
    _validate_name(namespace, "namespace")
    flow = client()
    start = time.perf_counter()
    folder = service.fate_home() / "uploads" / namespace
    submitted, rows = {}, {}
    for name, df in tables.items():
        _validate_name(name, "name")
        path = write_party_csv(df, folder / f"{name}.csv", label=label)
        digest, stamp = _digest(path), folder / f"{name}.sha256"
        base = {"namespace": namespace, "name": name, "rows": len(df), "features": df.shape[1] - 1}
        if (
            stamp.is_file()
            and stamp.read_text() == digest
            and table_exists(namespace, name, flow=flow)
        ):
            rows[name] = {**base, "job_id": None, "status": "reused (same content)", "exists": True}
            continue
        stamp.unlink(missing_ok=True)
        submitted[name] = (_submit_upload(flow, path, namespace, name), digest, stamp)
    for name, (job_id, digest, stamp) in submitted.items():
        status, _ = _wait(
            flow, job_id, "local", "0", timeout, progress, f"upload {name}", start=start
        )
        exists = status == "success" and table_exists(namespace, name, flow=flow)
        if not exists:
            raise FateJobError(
                f"Uploading {namespace}.{name} ended with status {status!r}.",
                job_id,
                job_report(job_id, role="local", party_id="0", flow=flow),
            )
        stamp.write_text(digest)
        df = tables[name]
        rows[name] = {
            "namespace": namespace,
            "name": name,
            "rows": len(df),
            "features": df.shape[1] - 1,
            "job_id": job_id,
            "status": status,
            "exists": exists,
        }
    out = pd.DataFrame([rows[name] for name in tables])
    out.attrs["seconds"] = time.perf_counter() - start
    return out


# --------------------------------------------------------------------------- reports
def task_table(job_id: str, *, flow=None) -> pd.DataFrame:
    """Every task of a job, per party: name, role, party, status and FATE's elapsed seconds."""
    flow = flow or client()
    response = _reply(flow, flow.task.query(job_id=job_id))
    rows = []
    for task in response.get("data", []) if isinstance(response, dict) else []:
        elapsed = task.get("elapsed")
        rows.append(
            {
                "task_name": task.get("task_name"),
                "role": task.get("role"),
                "party_id": task.get("party_id"),
                "status": task.get("status"),
                "elapsed": round(elapsed / 1000, 1) if isinstance(elapsed, (int, float)) else None,
            }
        )
    columns = ["task_name", "role", "party_id", "status", "elapsed"]
    return (
        pd.DataFrame(rows, columns=columns)
        .sort_values(["task_name", "role", "party_id"])
        .reset_index(drop=True)
    )


def log_tail(
    job_id: str,
    role: str,
    party_id: str,
    task_name: str | None = None,
    *,
    lines: int = 25,
    flow=None,
) -> str:
    """Last lines of a task's error log (else info log, else stdout), via FATE Flow's log API."""
    flow = flow or client()
    kinds = ("task_error", "task_info") if task_name else ("schedule_error", "schedule_info")
    for log_type in kinds:
        count = _reply(
            flow,
            flow.log.count(
                log_type=log_type, job_id=job_id, role=role, party_id=party_id, task_name=task_name
            ),
        )
        total = count.get("data", 0) if isinstance(count, dict) else 0
        if isinstance(total, int) and total > 0:
            response = flow.log.query(
                log_type=log_type,
                job_id=job_id,
                role=role,
                party_id=party_id,
                task_name=task_name,
                begin=max(total - lines, 1),
                end=total,
            )
            data = response.get("data", []) if isinstance(response, dict) else []
            text = "\n".join(
                item.get("content", "") if isinstance(item, dict) else str(item) for item in data
            )
            if text.strip():
                return f"[{log_type}, last {len(data)} lines]\n{text}"
    folder = service.flow_home() / "logs" / job_id
    stdout = folder / role / str(party_id) / (task_name or "") / "stdout" / "task_execute"
    if stdout.is_file():
        tail = stdout.read_text(errors="replace").splitlines()[-lines:]
        return f"[{stdout}, last {len(tail)} lines]\n" + "\n".join(tail)
    return f"(no log lines found; look under {folder})"


def job_report(job_id: str, *, role: str = "guest", party_id: str = "9999", flow=None) -> str:
    """The task table of a job and the log tail of the task that failed (or hung)."""
    flow = flow or client()
    tasks = task_table(job_id, flow=flow)
    lines = [f"job {job_id} tasks:", tasks.to_string(index=False) if len(tasks) else "(no tasks)"]
    rank = {"failed": 0, "timeout": 1, "canceled": 2, "running": 3}
    failed = tasks[tasks["status"].isin(list(rank))]
    failed = failed.sort_values("status", key=lambda col: col.map(rank), kind="stable")
    if len(failed):
        first = failed.iloc[0]
        lines.append(
            f"failed task: {first.task_name} ({first.role} {first.party_id}, {first.status})"
        )
        lines.append(log_tail(job_id, first.role, str(first.party_id), first.task_name, flow=flow))
    else:
        lines.append(log_tail(job_id, role, party_id, flow=flow))
    return "\n".join(lines)


# --------------------------------------------------------------------------- pipelines
def _metrics_frame(raw) -> pd.DataFrame:
    """Flatten FATE's Evaluation output (nested lists of {"metric", "val"}) to scalar rows."""

    def flat(items):
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, list):
                yield from flat(item)
            elif isinstance(item, dict):
                yield item

    rows = []
    for entry in flat(raw or []):
        data = entry.get("data")
        if not isinstance(data, dict):
            continue
        for task, per_dataset in data.items():
            for dataset, metrics in (per_dataset or {}).items():
                for metric in flat(metrics):
                    value = metric.get("val")
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        rows.append(
                            {
                                "task": task,
                                "dataset": dataset,
                                "metric": metric.get("metric"),
                                "value": float(value),
                            }
                        )
    return pd.DataFrame(rows, columns=["task", "dataset", "metric", "value"])


def _output_data(flow, job_id: str, role: str, party_id: str, task_name: str) -> pd.DataFrame:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        response = flow.output.download_data(
            job_id=job_id, role=role, party_id=party_id, task_name=task_name, path=folder
        )
        _check(response, f"Downloading the output data of {task_name}", flow)
        frames = [pd.read_csv(p) for p in sorted(Path(folder).rglob("*.csv"))]
    if not frames:
        raise FateJobError(f"Task {task_name} of job {job_id} produced no output data.", job_id)
    return pd.concat(frames, ignore_index=True)


@dataclasses.dataclass(frozen=True)
class SubmittedJob:
    """A job handed to FATE Flow: what :func:`wait_for` needs to follow it and collect outputs."""

    job_id: str
    guest: str
    output_task: str
    evaluation_task: str | None
    submitted: float
    desc: str = "FATE job"


def submit_pipeline(
    pipeline, *, output_task: str, evaluation_task: str | None = None, desc: str = "FATE job"
) -> SubmittedJob:
    """Compile a ``FateFlowPipeline`` and submit it to FATE Flow without waiting.

    Several submitted jobs run side by side; collect each with :func:`wait_for`.
    """
    from ruamel.yaml import YAML  # fate_client's own YAML library

    flow = client()
    pipeline.compile()
    dag = YAML(typ="safe").load(pipeline.get_dag())
    guest = next(p for p in dag["dag"]["parties"] if p["role"] == "guest")["party_id"][0]
    response = _check(flow.job.submit(dag_schema=dag), "Submitting the job", flow)
    return SubmittedJob(
        response["job_id"], guest, output_task, evaluation_task, time.perf_counter(), desc
    )


def _fate_elapsed(flow, job: SubmittedJob) -> float | None:
    response = _reply(flow, flow.job.query(job_id=job.job_id, role="guest", party_id=job.guest))
    try:
        return float(response["data"][0]["elapsed"]) / 1000.0
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def wait_for(
    job: SubmittedJob, *, timeout: float = DEFAULT_TIMEOUT, progress: bool = True
) -> JobResult:
    """Wait for a submitted job (at most ``timeout`` s after submission) and collect its outputs.

    ``JobResult.elapsed`` is FATE Flow's own record of the job's duration (start to end), so it
    stays right when several jobs run at once.

    Raises
    ------
    FateJobError
        The job failed, was canceled, or exceeded ``timeout`` (it is then stopped); the message
        names the failed task and shows the tail of its log.
    FateServiceError
        FATE Flow stopped answering.
    KeyboardInterrupt
        The wait was interrupted; the FATE job was stopped (``job stop``) first.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    flow = client()
    job_id, guest = job.job_id, job.guest
    status, waited = _wait(
        flow, job_id, "guest", guest, timeout, progress, f"{job.desc} {job_id}", start=job.submitted
    )
    if status != "success":
        reason = (
            f"was stopped after the {timeout:.0f} s timeout (hung)"
            if status == "timeout"
            else f"ended {status}"
        )
        raise FateJobError(
            f"FATE job {job_id} {reason}.", job_id, job_report(job_id, party_id=guest, flow=flow)
        )
    predictions = _output_data(flow, job_id, "guest", guest, job.output_task)
    metrics = pd.DataFrame(columns=["task", "dataset", "metric", "value"])
    if job.evaluation_task:
        raw = _check(
            flow.output.query_metric(
                job_id=job_id, role="guest", party_id=guest, task_name=job.evaluation_task
            ),
            "Reading the evaluation metrics",
            flow,
        )
        metrics = _metrics_frame(raw.get("data"))
    model_resp = _reply(
        flow,
        flow.output.query_model(
            job_id=job_id, role="guest", party_id=guest, task_name=job.output_task
        ),
    )
    model = (
        model_resp.get("data")
        if isinstance(model_resp, dict) and model_resp.get("code") == 0
        else None
    )
    elapsed = _fate_elapsed(flow, job) or waited
    return JobResult(
        job_id, status, elapsed, task_table(job_id, flow=flow), metrics, predictions, model
    )


def run_pipeline(
    pipeline,
    *,
    output_task: str,
    evaluation_task: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    desc: str = "FATE job",
) -> JobResult:
    """Submit a ``FateFlowPipeline`` and wait for it: :func:`submit_pipeline` then :func:`wait_for`.

    Parameters
    ----------
    pipeline
        A ``fate_client.pipeline.FateFlowPipeline`` with parties and tasks added.
    output_task
        Task whose output data (predictions) to fetch from the guest.
    evaluation_task
        Evaluation task whose metrics to fetch from the guest, if any.
    timeout
        Seconds before a running job is stopped and reported as hung.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    job = submit_pipeline(
        pipeline, output_task=output_task, evaluation_task=evaluation_task, desc=desc
    )
    return wait_for(job, timeout=timeout, progress=progress)


def homo_lr_pipeline(
    train_tables: Mapping[str, str],
    *,
    namespace: str,
    test_table: str | None = None,
    guest: str = "9999",
    arbiter: str = "10000",
    epochs: int = 20,
    batch_size: int | None = None,
    optimizer: str = "rmsprop",
    learning_rate: float = 0.01,
    alpha: float = 0.01,
    penalty: str = "l2",
):
    """FATE 2.x pipeline Reader -> HomoLR -> Evaluation for horizontally split parties.

    Parameters
    ----------
    train_tables
        Party id -> table name of that party's training rows; ``guest`` must be one of them,
        the others become hosts (e.g. ``{"9999": "g", "9998": "h1", "10000": "h2"}``).
    namespace
        FATE namespace of the tables.
    test_table
        A table the guest also reads as ``validate_data``: HomoLR predicts it after training, so
        the guest's output holds predictions on the common test set (``type == validate_set``).
    guest, arbiter
        Party ids of the guest and of the arbiter (the aggregator; may coincide with a host, as in
        the thesis' standalone set-up).
    epochs, batch_size, optimizer, learning_rate, alpha, penalty
        HomoLR settings. ``batch_size=None`` trains full-batch (FATE 1.x' ``batch_size=-1``):
        it is sent as 2**30 rows, more than any party holds. ``alpha`` is the L2 (or L1) strength,
        ``optimizer`` any torch optimizer name FATE accepts (``sgd``, ``rmsprop``, ``adam``...).

    Returns
    -------
    (FateFlowPipeline, dict)
        The pipeline and the task names ``{"model": ..., "evaluation": ...}``.
    """
    from fate_client.pipeline import FateFlowPipeline
    from fate_client.pipeline.components.fate import Evaluation, HomoLR, Reader

    if guest not in train_tables:
        raise ValueError(
            f"The guest {guest!r} must hold a training table; got parties {list(train_tables)}."
        )
    if len(train_tables) < 2:
        raise ValueError("Federated training needs at least two parties (a guest and a host).")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    _validate_name(namespace, "namespace")
    hosts = [p for p in train_tables if p != guest]
    pipeline = FateFlowPipeline().set_parties(guest=guest, host=hosts, arbiter=arbiter)
    reader = Reader("reader_0", runtime_parties=dict(guest=guest, host=hosts))
    reader.guest.task_parameters(namespace=namespace, name=train_tables[guest])
    for i, host in enumerate(hosts):
        reader.hosts[i].task_parameters(namespace=namespace, name=train_tables[host])
    tasks = [reader]
    if batch_size is None:
        batch_size = 1 << 30  # larger than any party: one full-batch step per epoch
    lr_kwargs = dict(
        epochs=epochs,
        batch_size=int(batch_size),
        optimizer={
            "method": optimizer,
            "penalty": penalty,
            "alpha": float(alpha),
            "optimizer_params": {"lr": float(learning_rate)},
        },
        init_param={"method": "zeros", "fit_intercept": True},
        train_data=reader.outputs["output_data"],
    )
    if test_table is not None:
        test_reader = Reader("reader_1", runtime_parties=dict(guest=guest))
        test_reader.guest.task_parameters(namespace=namespace, name=test_table)
        tasks.append(test_reader)
        lr_kwargs["validate_data"] = test_reader.outputs["output_data"]
    homo_lr = HomoLR("homo_lr_0", **lr_kwargs)
    evaluation = Evaluation(
        "evaluation_0",
        runtime_parties=dict(guest=guest),
        default_eval_setting="binary",
        metrics=["auc", "ks"],
        input_datas=[homo_lr.outputs["train_output_data"]],
    )
    pipeline.add_tasks([*tasks, homo_lr, evaluation])
    return pipeline, {"model": "homo_lr_0", "evaluation": "evaluation_0"}


def submit_homo_lr(
    train_tables: Mapping[str, str], *, namespace: str, test_table: str | None = None, **settings
) -> SubmittedJob:
    """Confirm every table exists, build :func:`homo_lr_pipeline` and submit it (no waiting)."""
    flow = client()
    names: Sequence[str] = [*train_tables.values(), *([test_table] if test_table else [])]
    missing = [n for n in names if not table_exists(namespace, n, flow=flow)]
    if missing:
        raise ValueError(
            f"FATE Flow has no table(s) {', '.join(f'{namespace}.{m}' for m in missing)}; upload "
            "them first with fl_course.fate.jobs.upload_tables."
        )
    pipeline, tasks = homo_lr_pipeline(
        train_tables, namespace=namespace, test_table=test_table, **settings
    )
    return submit_pipeline(
        pipeline, output_task=tasks["model"], evaluation_task=tasks["evaluation"], desc="HomoLR"
    )


def run_homo_lr(
    train_tables: Mapping[str, str],
    *,
    namespace: str,
    test_table: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    **settings,
) -> JobResult:
    """Check the tables, submit a HomoLR job and wait for it.

    :func:`submit_homo_lr` (which checks the tables) then :func:`wait_for`, in one call.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    job = submit_homo_lr(train_tables, namespace=namespace, test_table=test_table, **settings)
    return wait_for(job, timeout=timeout, progress=progress)


def model_weights(model: dict | None) -> tuple[np.ndarray, float] | None:
    """(weights, intercept) of a binary HomoLR model as FATE stores it, or None."""
    if not model:
        return None

    def find(obj):
        if isinstance(obj, dict):
            if "state_dict" in obj:
                return obj["state_dict"]
            for value in obj.values():
                found = find(value)
                if found is not None:
                    return found
        if isinstance(obj, list):
            for value in obj:
                found = find(value)
                if found is not None:
                    return found
        return None

    state = find(model)
    if state is None:
        return None
    weight = np.asarray(state["models.0.weight"], dtype=float).ravel()
    bias = float(np.asarray(state.get("models.0.bias", [0.0]), dtype=float).ravel()[0])
    return weight, bias
