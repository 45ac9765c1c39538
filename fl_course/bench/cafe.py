"""Benchmark of CAFE (chapter 5) on real MNIST digits, in HFL and in VFL.

``python -m fl_course.bench cafe [--iterations T] [--samples N] [--batch B] [--seed S] [--quick]``
prints one JSON object with one entry per setting (``hfl``, ``vfl``): ``batch`` (samples per
iteration over all workers), ``workers``, ``samples`` (digits attacked), ``iterations``,
``seconds`` (wall clock; ``cpu_seconds`` is the process's CPU time, which tells a busy
machine from a slow attack), and ``psnr_mean`` / ``psnr_min`` (dB, ``fl_course.metrics.psnr``,
10·log10(1/MSE) per image, fake clipped to [0, 1]) over the last 40-image batch, plus
``psnr_mean_all`` over every digit. Goal on a 2-core CPU: a 40-image batch recovered at mean
PSNR ≥ 30 dB in ≤ 300 s.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from fl_course.attacks.cafe import Cafe, mnist_setting

GOAL = {"psnr_mean_min": 30.0, "seconds_max": 300.0, "batch": 40}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fl_course.bench cafe", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=400, help="attack (= training) iterations (default 400)")
    parser.add_argument("--samples", type=int, default=80, help="digits in the federation (default 80)")
    parser.add_argument("--batch", type=int, default=40, help="samples per iteration over all workers (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data choice, models and attack")
    parser.add_argument("--quick", action="store_true", help="smoke test: 8 digits, batch 4, 5 iterations")
    args = parser.parse_args(argv)
    if min(args.iterations, args.samples, args.batch) < 1:
        parser.error("--iterations, --samples and --batch must be positive")
    if args.batch > args.samples:
        parser.error("--batch cannot exceed --samples")
    return args


def run_setting(kind: str, *, samples: int, batch: int, iterations: int, seed: int) -> dict:
    """Attack one frozen-model federation and summarise it as a JSON-able dict."""
    setting = mnist_setting(kind, num_samples=samples, batch_size=batch, seed=seed)
    attack = Cafe(setting, seed=seed, progress=False)
    cpu = time.process_time()
    history = attack.run(iterations, eval_every=iterations)
    cpu = time.process_time() - cpu
    last = history.iloc[-1]
    scores = attack.psnr()
    batch_scores = scores[setting.choose_batch(iterations - 1)]
    return {
        "batch": batch,
        "workers": setting.workers,
        "samples": samples,
        "iterations": iterations,
        "seconds": round(float(last["seconds"]), 2),
        "cpu_seconds": round(cpu, 2),
        "psnr_mean": round(float(batch_scores.mean()), 2),
        "psnr_min": round(float(batch_scores.min()), 2),
        "psnr_mean_all": round(float(scores.mean()), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object; returns 0."""
    args = _parse(argv)
    samples, batch, iterations = (8, 4, 5) if args.quick else (args.samples, args.batch, args.iterations)
    torch.manual_seed(args.seed)
    out = {
        kind: run_setting(kind, samples=samples, batch=batch, iterations=iterations, seed=args.seed)
        for kind in ("hfl", "vfl")
    }
    out["goal"] = GOAL
    out["goal_met"] = {
        kind: out[kind]["psnr_mean"] >= GOAL["psnr_mean_min"] and out[kind]["seconds"] <= GOAL["seconds_max"]
        for kind in ("hfl", "vfl")
    }
    print(json.dumps(out))
    return 0
