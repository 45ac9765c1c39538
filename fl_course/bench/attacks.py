"""Benchmark of the chapter-4 gradient-inversion attacks on real MNIST digits.

``python -m fl_course.bench attacks [--images N] [--seed S] [--quick]`` prints
one JSON object. For each setting (attack × network × training state; one
image per client, FedSGD, labels known) it reports ``psnr_mean``, ``psnr_std``
(dB, 10·log10(1/MSE), over clients), ``ssim_mean``, ``images``, ``iterations``
(per image), ``seconds_per_image`` (wall clock), ``cpu_seconds_per_image``,
``psnr_trivial_best`` (the best of an all-black, mean-image and uniform-noise
guess on the same victims) and, where Geiping et al.'s Table 1 has the cell,
``paper_psnr`` with ``paper_network`` (their data are CIFAR-10, ours MNIST; the
ReLU cells compare our pooled ConvNet with their ResNet20-4). Goals on a 2-core CPU:

* iDLG (Euclid + L-BFGS) on the untrained sigmoid LeNet (Zhu): ≥ 40 dB in ≤ 10 s per image;
* Inverting Gradients on the untrained LeNet (Zhu): ≥ 18 dB (the paper's CIFAR-10 figure) in ≤ 20 s;
* on the trained ReLU network (:class:`~fl_course.models.PooledConvNet`), Inverting Gradients
  beats Euclid + L-BFGS by ≥ 5 dB (mean paired difference over the same images).

The trained networks are trained on the 8,000 training digits (their test accuracy
is reported).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

from fl_course.attacks import IDLG, InvertingGradients
from fl_course.data import load_mnist
from fl_course.experiments.attacks import (
    best_trivial_guess,
    evaluate_attack,
    paired_gap,
    summarize,
)
from fl_course.models import ConvNet, LeNetZhu, PooledConvNet, train_model

GOALS = {
    "idlg_lenetzhu_untrained": {"psnr_min": 40.0, "seconds_per_image_max": 10.0},
    "ig_lenetzhu_untrained": {"psnr_min": 18.0, "seconds_per_image_max": 20.0},
    "ig_minus_idlg_pooledconvnet_trained": {"gap_min": 5.0},
}

# Geiping et al. (2020), Table 1: CIFAR-10, first 100 validation images, mean PSNR (dB).
PAPER_TABLE1 = {
    ("idlg", "lenetzhu", "untrained"): (46.25, "LeNet (Zhu)"),
    ("ig", "lenetzhu", "untrained"): (18.00, "LeNet (Zhu)"),
    ("idlg", "lenetzhu", "trained"): (13.24, "LeNet (Zhu)"),
    ("ig", "lenetzhu", "trained"): (18.08, "LeNet (Zhu)"),
    ("idlg", "pooledconvnet", "untrained"): (10.29, "ResNet20-4"),
    ("ig", "pooledconvnet", "untrained"): (19.83, "ResNet20-4"),
    ("idlg", "pooledconvnet", "trained"): (6.90, "ResNet20-4"),
    ("ig", "pooledconvnet", "trained"): (13.95, "ResNet20-4"),
}
# IG's TV weight per network: the sharp-stroked digits prefer little TV on LeNet (Zhu); the
# pooled ReLU network, whose last layer sees fewer features than pixels, needs the prior.
TV = {"lenetzhu": 1e-4, "pooledconvnet": 1e-2, "convnet": 1e-4}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fl_course.bench attacks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--images", type=int, default=8, help="images (clients) per setting (default 8)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of models, attacks and image choice"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 1 image, few iterations, tiny training"
    )
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object; returns 0."""
    args = _parse(argv)
    quick = args.quick
    n = 1 if quick else args.images
    lbfgs_its, ig_its = (2, 5) if quick else (15, 1000)
    train_n = 64 if quick else None
    epochs = {"lenetzhu": 1 if quick else 2, "pooledconvnet": 1, "convnet": 1}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_x, train_y = load_mnist("train")
        test_x, test_y = load_mnist("test")
    train_x, train_y = train_x[:train_n], train_y[:train_n]
    gen = torch.Generator().manual_seed(args.seed)
    pick = torch.randperm(len(test_y), generator=gen)[:n]
    images, labels = test_x[pick], test_y[pick]
    trivial = best_trivial_guess(images, train_x.mean(0), seed=args.seed)

    def make(attack_name: str, net_name: str):
        if attack_name == "idlg":
            return IDLG(iterations=lbfgs_its, init="rand", seed=args.seed, progress=False)
        return InvertingGradients(
            iterations=ig_its, tv=TV[net_name], init="rand", seed=args.seed, progress=False
        )

    builders = {"lenetzhu": LeNetZhu, "pooledconvnet": PooledConvNet, "convnet": ConvNet}
    plan = [
        ("untrained", "lenetzhu"),
        ("trained", "lenetzhu"),
        ("untrained", "pooledconvnet"),
        ("trained", "pooledconvnet"),
        ("untrained", "convnet"),
        ("trained", "convnet"),
    ]
    settings, tables, accuracy = {}, {}, {}
    for state, name in plan:
        model = builders[name](seed=args.seed)
        if state == "trained":
            start = time.perf_counter()
            train_model(model, train_x, train_y, epochs=epochs[name], seed=args.seed)
            with torch.no_grad():
                acc = float((model(test_x).argmax(1) == test_y).float().mean())
            accuracy[name] = {
                "test_accuracy": round(acc, 4),
                "epochs": epochs[name],
                "train_images": len(train_y),
                "train_seconds": round(time.perf_counter() - start, 2),
            }
        model.eval()
        for attack_name in ("idlg", "ig"):
            key = f"{attack_name}_{name}_{state}"
            tables[key] = evaluate_attack(make(attack_name, name), model, images, labels)
            figures = {
                **summarize(tables[key]),
                "psnr_trivial_best": trivial["psnr"],
                "ssim_trivial_best": trivial["ssim_best"],
            }
            if (attack_name, name, state) in PAPER_TABLE1:
                figures["paper_psnr"], figures["paper_network"] = PAPER_TABLE1[
                    (attack_name, name, state)
                ]
            settings[key] = figures

    gaps = {
        f"ig_minus_idlg_{name}_{state}": paired_gap(
            tables[f"ig_{name}_{state}"], tables[f"idlg_{name}_{state}"]
        )
        for state, name in plan
    }
    goals = {}
    for key, goal in GOALS.items():
        if "gap_min" in goal:
            goals[key] = {
                **goal,
                "gap": gaps[key]["gap"],
                "met": bool(gaps[key]["gap"] >= goal["gap_min"]),
            }
            continue
        got = settings[key]
        goals[key] = {
            **goal,
            "met": bool(
                got["psnr_mean"] >= goal["psnr_min"]
                and got["seconds_per_image"] <= goal["seconds_per_image_max"]
            ),
        }
    out = {
        "benchmark": "attacks",
        "data": "MNIST (official test images), one image per client, FedSGD gradient, labels known",
        "psnr": "10*log10(1/MSE) per image, images in [0, 1]",
        "paper": "Geiping et al. 2020, Table 1 (CIFAR-10, 100 images; ReLU column: ResNet20-4)",
        "threads": torch.get_num_threads(),
        "quick": quick,
        "trivial_best": trivial,
        "settings": settings,
        "gaps": gaps,
        "trained_models": accuracy,
        "goals": goals,
    }
    print(json.dumps(out, indent=1))
    return 0
