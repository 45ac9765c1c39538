"""Tests for fl_course.experiments.parallel: order, identical numbers, clear errors."""

import os

import pytest
import torch

from fl_course.attacks import InvertingGradients
from fl_course.defenses import GaussianNoise, GradientCompression
from fl_course.experiments.defenses import attack_matrix
from fl_course.experiments.parallel import default_processes, map_rows
from fl_course.models import ConvNet


def test_rows_come_back_in_order_from_forked_workers():
    rows = [lambda i=i: (i, os.getpid()) for i in range(6)]
    results = list(map_rows(rows, processes=2))
    assert [i for i, _ in results] == list(range(6))
    assert all(pid != os.getpid() for _, pid in results)  # really in workers (Linux CI)
    assert all(pid == os.getpid() for _, pid in map_rows(rows, processes=1))


def test_attack_matrix_gives_the_same_numbers_in_workers_and_here():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 1, 28, 28, generator=g), torch.tensor([3, 7])
    defenses = {"none": None, "GC": GradientCompression(90.0), "DP": GaussianNoise(1e-2, seed=1)}
    attack = {"IG": InvertingGradients(iterations=5, progress=False, seed=0)}

    def run(processes):
        return attack_matrix(
            lambda: ConvNet(width=2, seed=0),
            x,
            y,
            defenses,
            attack,
            progress=False,
            processes=processes,
        )

    threads = torch.get_num_threads()
    (here, recs_here), (workers, recs_workers) = run(1), run(2)
    assert torch.get_num_threads() == threads  # one thread only while the rows ran here
    cols = ["defense", "attack", "image", "psnr", "ssim", "mse"]
    assert here[cols].equals(workers[cols])
    assert all(torch.equal(recs_here[k], recs_workers[k]) for k in recs_here)


def test_bad_process_counts_raise(monkeypatch):
    monkeypatch.setenv("FL_COURSE_PROCESSES", "two")
    with pytest.raises(ValueError, match="FL_COURSE_PROCESSES"):
        default_processes()
    monkeypatch.setenv("FL_COURSE_PROCESSES", "1")
    assert default_processes() == 1
    with pytest.raises(ValueError, match="processes"):
        list(map_rows([lambda: 1], processes=0))
