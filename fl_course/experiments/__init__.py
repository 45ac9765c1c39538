"""Experiments: attacks and defenses run on real data and federations, one module per chapter.

The layers below know nothing of each other: :mod:`fl_course.attacks` reconstructs from an
update, :mod:`fl_course.defenses` transforms an update, and the federations train. The
experiments put them together, so that a lab and its benchmark
(``python -m fl_course.bench ...``) run the same code.

:mod:`fl_course.experiments.attacks`
    Chapter 4: attack clients one by one and tabulate PSNR and SSIM, paired gaps, the best
    trivial guess, the two attacks of Geiping et al.'s Table 1.
:mod:`fl_course.experiments.cafe`
    Chapter 5: CAFE's MNIST federations, the DLG baseline, the batch sweeps and their
    scoreboard entries; chapter 6's CAFE against every defense.
:mod:`fl_course.experiments.defenses`
    Chapter 6: attack × defense matrices, federated utility and cost, the compensation
    diagnosis, DP-SGD against attacks.
:mod:`fl_course.experiments.production`
    Chapter 6: Outpost's production setting (several local steps with momentum and weight
    decay, every step defended) and an attacker who replays the client's optimiser or not.

Import from the module, e.g. ``from fl_course.experiments.attacks import evaluate_attack``.
"""
