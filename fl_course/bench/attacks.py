"""Benchmark of the chapter-4 gradient-inversion attacks on real MNIST digits.

``python -m fl_course.bench attacks [--images N] [--seed S] [--quick]`` prints
one JSON object. For each setting (attack × network × training state; one
image per client, FedSGD, labels known) it reports ``psnr_mean`` and
``psnr_std`` (dB, 10·log10(1/MSE), over clients), ``images``, ``iterations``
(per image) and ``seconds_per_image``. Goals on a 2-core CPU:

* iDLG (Euclid + L-BFGS) on the untrained sigmoid LeNet (Zhu): ≥ 40 dB in ≤ 10 s per image;
* Inverting Gradients on the untrained ReLU ConvNet: ≥ 30 dB in ≤ 10 s per image.

The trained networks (a few seconds of Adam on 3,000 training digits) are
reported without a bar, with their test accuracy.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

from fl_course.attacks import IDLG, InvertingGradients
from fl_course.attacks.experiments import evaluate_attack, summarize
from fl_course.data import load_mnist
from fl_course.models import ConvNet, LeNetZhu, train_model

GOALS = {
    "idlg_lenetzhu_untrained": {"psnr_min": 40.0, "seconds_per_image_max": 10.0},
    "ig_convnet_untrained": {"psnr_min": 30.0, "seconds_per_image_max": 10.0},
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fl_course.bench attacks", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images (clients) per setting (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of models, attacks and image choice")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 image, few iterations, tiny training")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object; returns 0."""
    args = _parse(argv)
    quick = args.quick
    n = 1 if quick else args.images
    lbfgs_its, ig_its = (2, 5) if quick else (20, 200)
    train_n, epochs = (64, 1) if quick else (3000, 2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_x, train_y = load_mnist("train")
        test_x, test_y = load_mnist("test")
    gen = torch.Generator().manual_seed(args.seed)
    pick = torch.randperm(len(test_y), generator=gen)[:n]
    images, labels = test_x[pick], test_y[pick]

    def idlg():
        return IDLG(iterations=lbfgs_its, init="rand", seed=args.seed, progress=False)

    def ig():
        return InvertingGradients(iterations=ig_its, init="rand", seed=args.seed, progress=False)

    settings = {}
    accuracy = {}
    for state in ("untrained", "trained"):
        nets = {"lenetzhu": LeNetZhu(seed=args.seed), "convnet": ConvNet(width=16, seed=args.seed)}
        for name, model in nets.items():
            if state == "trained":
                start = time.perf_counter()
                train_model(model, train_x[:train_n], train_y[:train_n], epochs=epochs, seed=args.seed)
                with torch.no_grad():
                    acc = float((model(test_x).argmax(1) == test_y).float().mean())
                accuracy[name] = {"test_accuracy": round(acc, 4), "train_seconds": round(time.perf_counter() - start, 2)}
            model.eval()
            for attack_name, make in (("idlg", idlg), ("ig", ig)):
                key = f"{attack_name}_{name}_{state}"
                if state == "untrained" and key not in GOALS:
                    continue
                settings[key] = summarize(evaluate_attack(make(), model, images, labels))

    goals = {}
    for key, goal in GOALS.items():
        got = settings[key]
        goals[key] = {
            **goal,
            "met": bool(got["psnr_mean"] >= goal["psnr_min"] and got["seconds_per_image"] <= goal["seconds_per_image_max"]),
        }
    out = {
        "benchmark": "attacks",
        "data": "MNIST (official test images), one image per client, FedSGD gradient, labels known",
        "psnr": "10*log10(1/MSE) per image, images in [0, 1]",
        "threads": torch.get_num_threads(),
        "quick": quick,
        "settings": settings,
        "trained_models": accuracy,
        "goals": goals,
    }
    print(json.dumps(out, indent=1))
    return 0
