"""Benchmark of the chapter 6 defenses: privacy (IG PSNR/SSIM), utility and cost.

``python -m fl_course.bench defenses [options]`` prints one JSON object with,
per defense, ``psnr_ig`` and ``ssim_ig`` (Inverting Gradients on single-image
FedSGD gradients of an untrained ReLU ConvNet, mean over images),
``accuracy`` (%), ``accuracy_drop`` (points below no defense) and
``round_time_ratio`` (FedAvg CPU time per round over that of no defense,
same run; ``round_wall_ratio`` gives the wall-clock version) on non-IID
MNIST clients, plus the goals for GradDefense and Outpost
(psnr_ig ≤ 12 dB, accuracy_drop ≤ 2 points, round_time_ratio ≤ 1.10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import torch

GOALS = {"psnr_ig": 12.0, "accuracy_drop": 2.0, "round_time_ratio": 1.10}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fl_course.bench defenses", description=__doc__.splitlines()[0])
    p.add_argument("--images", type=_positive_int, default=2, help="victim images for the attack (default 2)")
    p.add_argument("--ig-iterations", type=_positive_int, default=300, help="Inverting Gradients steps (default 300)")
    p.add_argument("--train-images", type=_positive_int, default=4000, help="MNIST training images spread over clients")
    p.add_argument("--clients", type=_positive_int, default=5, help="FedAvg clients, Dirichlet(0.5) label skew")
    p.add_argument("--rounds", type=_positive_int, default=4, help="FedAvg rounds (default 4)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--test-images", type=_positive_int, default=2000)
    p.add_argument("--soteria-samples", type=_positive_int, default=1,
                   help="examples Soteria scores per local step in FedAvg (its cost grows linearly)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=_positive_int, default=None, help="torch threads (default: torch's choice)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object; returns 0."""
    args = _parser().parse_args(argv)
    if args.lr <= 0 or not 0 <= args.momentum < 1:
        raise ValueError("Pass --lr > 0 and 0 <= --momentum < 1.")
    if args.threads:
        torch.set_num_threads(args.threads)
    from fl_course.attacks import InvertingGradients
    from fl_course.data import load_mnist
    from fl_course.defenses import GradDefense, Soteria, root_dataset
    from fl_course.defenses.evaluation import attack_matrix, federated_utility, paper_defenses
    from fl_course.models import ConvNet, SmallCNN
    from fl_course.partition import DirichletPartitioner

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_x, train_y = load_mnist("train")
        test_x, test_y = load_mnist("test")
    root = root_dataset(train_x, train_y, per_class=5, seed=args.seed)
    defenses = paper_defenses(root, seed=args.seed)

    # privacy: IG on single-image gradients (victims from the test split)
    victims = torch.arange(args.images) * 97 % len(test_y)
    attack = InvertingGradients(iterations=args.ig_iterations, progress=False, seed=args.seed)
    table, _ = attack_matrix(
        lambda: ConvNet(width=16, seed=args.seed), test_x[victims], test_y[victims], defenses, {"IG": attack},
        progress=False,
    )
    privacy = table.groupby("defense")[["psnr", "ssim"]].mean()

    # utility and cost: FedAvg on non-IID clients, every local step protected
    n = min(args.train_images, len(train_y))
    parts = DirichletPartitioner(args.clients, alpha=0.5, seed=args.seed).split(train_y[:n])
    clients = [(train_x[:n][p], train_y[:n][p]) for p in parts]
    steps = max(1, round(n / args.clients / args.batch_size))
    utility_defs = dict(defenses)
    utility_defs["Soteria"] = Soteria(max_samples=args.soteria_samples, seed=args.seed)
    gd = GradDefense(root, seed=args.seed)
    utility_defs["GradDefense+MP"] = (gd, gd.compensation(args.clients, lr=args.lr, local_steps=steps, momentum=args.momentum))
    utility = federated_utility(
        lambda: SmallCNN(seed=args.seed), clients, (test_x[: args.test_images], test_y[: args.test_images]),
        utility_defs, rounds=args.rounds, lr=args.lr, momentum=args.momentum, batch_size=args.batch_size,
        seed=args.seed, progress=False,
    ).set_index("defense")

    result: dict[str, object] = {"defenses": {}}
    for name in utility.index:
        base = "GradDefense" if name == "GradDefense+MP" else name
        row = {
            "psnr_ig": round(float(privacy.loc[base, "psnr"]), 2),
            "ssim_ig": round(float(privacy.loc[base, "ssim"]), 4),
            "accuracy": round(float(utility.loc[name, "accuracy"]), 2),
            "accuracy_drop": round(float(utility.loc[name, "accuracy_drop"]), 2),
            "round_time_ratio": round(float(utility.loc[name, "round_time_ratio"]), 3),
            "round_wall_ratio": round(float(utility.loc[name, "round_wall_ratio"]), 3),
        }
        result["defenses"][name] = row
    goals_met = {}
    for name in ("GradDefense", "GradDefense+MP", "Outpost"):
        row = result["defenses"][name]
        goals_met[name] = {k: bool(row[k] <= v) for k, v in GOALS.items()}
    result.update(
        goals=GOALS,
        goals_met=goals_met,
        setting={
            "attack": f"Inverting Gradients, {args.ig_iterations} steps, ConvNet(width=16) untrained, "
            f"{args.images} single-image FedSGD gradients",
            "federated": f"FedAvg SmallCNN, {args.clients} Dirichlet(0.5) clients on {n} MNIST images, "
            f"{args.rounds} rounds, batch {args.batch_size}, lr {args.lr}, momentum {args.momentum}; "
            "defenses on every local step",
        },
        cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        seconds=round(time.perf_counter() - start, 1),
    )
    print(json.dumps(result))
    return 0
