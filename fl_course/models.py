"""Small image classifiers used across the course, sized for a CPU.

Every model takes ``num_classes`` and ``in_channels`` (28×28 inputs, as in MNIST)
and a keyword-only ``seed``: the same seed gives bit-identical initial weights,
and building a model never disturbs the global random state.

Models
------
LogisticRegression
    Multinomial logistic regression on flattened pixels.
MLP
    Fully connected network; its first layer is the target of the analytic
    attack of :cite:t:`geiping2020inverting` (Proposition 3.1).
SmallCNN
    Two-convolution ReLU network that the FedAvg simulator trains on MNIST.
LeNetZhu
    The sigmoid LeNet of :cite:t:`zhu2019dlg` (their Fig. 3 network), resized
    for 1×28×28 inputs.
ConvNet
    ReLU ConvNet in the spirit of the ``ConvNet`` of Geiping et al. (2020),
    with a ``width`` parameter.
PooledConvNet
    ReLU ConvNet with max-pooling whose last layer sees fewer features than
    pixels, like the authors' ``ConvNet`` (used for Geiping et al.'s tables).
ResNetSmall
    A three-stage residual network (one basic block per stage, ResNet-8 style).
BottomModel
    CAFE's worker model (two convolutions, three FC layers) on a square image or image
    piece; exposes :meth:`BottomModel.features`, the input of its first FC layer.

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> model = LeNetZhu(seed=0)
>>> model(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fl_course.checks import Configurable, check_choice, check_int, check_number, check_seed

__all__ = [
    "LogisticRegression",
    "MLP",
    "SmallCNN",
    "LeNetZhu",
    "ConvNet",
    "PooledConvNet",
    "ResNetSmall",
    "BottomModel",
    "train_model",
]


class _SeededModule(nn.Module, Configurable):
    """Base class: records the settings, builds the layers under a private RNG state.

    The constructor validates ``num_classes``, ``in_channels`` and ``seed``,
    records every constructor argument once as an attribute
    (:meth:`fl_course.checks.Configurable.save_settings`, which also reads the
    subclass's own arguments), then calls ``_build()`` (create layers) and
    ``_init_weights()`` inside :func:`torch.random.fork_rng` seeded with
    ``seed``, so the global generator is left untouched. A subclass with extra
    settings only validates them and calls ``super().__init__``; the ``repr``
    stays PyTorch's layer listing.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, *, seed: int = 0) -> None:
        super().__init__()
        self.save_settings(
            num_classes=check_int("num_classes", num_classes),
            in_channels=check_int("in_channels", in_channels, example=1),
            seed=check_seed(seed),
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._build()
            self._init_weights()

    def _init_weights(self) -> None:
        """Keep PyTorch's default initialisation (drawn under the seed)."""

    def _check_input(self, x: torch.Tensor, expected_dims: tuple[int, ...]) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}."
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != expected_dims:
            shape = ", ".join(map(str, expected_dims))
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape [batch, {shape}], "
                f"got {list(x.shape)}; reshape the images or build the model with "
                "matching in_channels."
            )


class _WidthModule(_SeededModule):
    """Base of the convolutional networks whose first setting is a channel ``width``."""

    def __init__(
        self, width: int = 16, num_classes: int = 10, in_channels: int = 1, *, seed: int = 0
    ) -> None:
        width = check_int("width", width, example=16)
        super().__init__(num_classes, in_channels, seed=seed)


class LogisticRegression(_SeededModule):
    """Multinomial logistic regression on flattened pixels.

    Parameters
    ----------
    in_features : int, default 784
        Number of input features (28·28·in_channels for MNIST-sized images).
    num_classes : int, default 10
        Number of output logits.
    in_channels : int, default 1
        Kept for a uniform interface; only ``in_features`` shapes the layer.
    seed : int, default 0
        Seed of the initial weights.

    Examples
    --------
    >>> LogisticRegression(seed=1)(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self, in_features: int = 784, num_classes: int = 10, in_channels: int = 1, *, seed: int = 0
    ) -> None:
        in_features = check_int("in_features", in_features, example=784)
        super().__init__(num_classes, in_channels, seed=seed)

    def _build(self) -> None:
        self.linear = nn.Linear(self.in_features, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"LogisticRegression expects {self.in_features} features per example, "
                f"got {x.shape[1]}; set in_features to the number of pixels times channels."
            )
        return self.linear(x)


class MLP(_SeededModule):
    """Fully connected network on flattened pixels.

    Its first layer ``layers[0]`` is a biased linear layer, so the analytic
    attack (Geiping et al. 2020, Prop. 3.1) recovers a single input exactly
    from that layer's weight and bias gradients.

    Parameters
    ----------
    in_features : int, default 784
        Number of input features.
    hidden : tuple of int, default (256, 128)
        Widths of the hidden layers.
    num_classes : int, default 10
        Number of output logits.
    in_channels : int, default 1
        Kept for a uniform interface.
    activation : {"relu", "sigmoid"}, default "relu"
        Non-linearity between layers.
    seed : int, default 0
        Seed of the initial weights.

    Examples
    --------
    >>> MLP(hidden=(32,), seed=0)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: tuple[int, ...] = (256, 128),
        num_classes: int = 10,
        in_channels: int = 1,
        *,
        activation: str = "relu",
        seed: int = 0,
    ) -> None:
        in_features = check_int("in_features", in_features, example=784)
        hidden = tuple(check_int("each hidden width", h, example=128) for h in hidden)
        check_choice("activation", activation, ("relu", "sigmoid"))
        super().__init__(num_classes, in_channels, seed=seed)

    def _build(self) -> None:
        act = nn.ReLU if self.activation == "relu" else nn.Sigmoid
        widths = (self.in_features, *self.hidden)
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), act()]
        layers.append(nn.Linear(widths[-1], self.num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"MLP expects {self.in_features} features per example, got {x.shape[1]}; "
                "set in_features to the number of pixels times channels."
            )
        return self.layers(x)


class SmallCNN(_SeededModule):
    """Small ReLU CNN for MNIST, the workhorse of the FedAvg simulator.

    conv(32, 3×3) → ReLU → max-pool → conv(64, 3×3) → ReLU → max-pool →
    FC(128) → ReLU → FC(num_classes). About 0.42 M parameters. Trained centrally
    with plain SGD (lr 0.1, batch 32) on the offline 8,000-image MNIST split it
    reaches 97 % test accuracy after five epochs (98 % after eight, ~5 s per
    epoch on one CPU core).

    Parameters
    ----------
    num_classes : int, default 10
    in_channels : int, default 1
    seed : int, default 0

    Examples
    --------
    >>> SmallCNN(seed=0)(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 10])
    """

    def _build(self) -> None:
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Linear(128, self.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, (self.in_channels, 28, 28))
        return self.classifier(self.features(x))


class LeNetZhu(_SeededModule):
    """The sigmoid LeNet of Zhu et al. (2019), sized for 1×28×28 inputs.

    Three 5×5 convolutions with 12 channels (strides 2, 2, 1, "same" padding),
    each followed by a sigmoid, then one linear layer. Weights and biases are
    drawn from U(−0.5, 0.5) as in the DLG code. With 28×28 inputs the feature
    map is 12×7×7 = 588 (768 in the paper's 32×32 version).

    Smooth activations and no pooling make the gradient an (almost) injective,
    twice-differentiable function of the input, which is why DLG and iDLG
    (:cite:t:`zhu2019dlg`, :cite:t:`zhao2020idlg`) succeed on it.

    Parameters
    ----------
    num_classes : int, default 10
    in_channels : int, default 1
    seed : int, default 0

    Examples
    --------
    >>> LeNetZhu(seed=0)(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """

    def _build(self) -> None:
        self.body = nn.Sequential(
            nn.Conv2d(self.in_channels, 12, 5, padding=2, stride=2),
            nn.Sigmoid(),
            nn.Conv2d(12, 12, 5, padding=2, stride=2),
            nn.Sigmoid(),
            nn.Conv2d(12, 12, 5, padding=2, stride=1),
            nn.Sigmoid(),
        )
        self.fc = nn.Linear(12 * 7 * 7, self.num_classes)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.uniform_(module.weight, -0.5, 0.5)
                nn.init.uniform_(module.bias, -0.5, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, (self.in_channels, 28, 28))
        return self.fc(self.body(x).flatten(1))


class ConvNet(_WidthModule):
    """ReLU ConvNet in the spirit of Geiping et al. (2020), with a width knob.

    conv(w, 3×3) → ReLU → conv(2w, 3×3, stride 2) → ReLU →
    conv(4w, 3×3, stride 2) → ReLU → FC(num_classes) on the 4w×7×7 feature map.
    Departures from the paper's 8-layer ``ConvNet``: no batch normalisation,
    three convolutions, and strided convolutions instead of max-pooling, so that
    single-image gradients are deterministic and an attack runs in seconds on a
    CPU. Without pooling its last layer sees 4w·49 features (3,136 at width 16,
    four times the 784 pixels), a far leakier network than the paper's: by
    Proposition 3.1 the server recovers that overcomplete code of the image, and
    on the untrained network even Euclidean L-BFGS inverts it (chapter 4's lab
    measures this). :class:`PooledConvNet` is the variant shaped like the
    authors' network.

    Parameters
    ----------
    width : int, default 16
        Channels of the first convolution (the paper's ``width``).
    num_classes : int, default 10
    in_channels : int, default 1
    seed : int, default 0

    Examples
    --------
    >>> ConvNet(width=8, seed=0)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def _build(self) -> None:
        w = self.width
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1, stride=2),  # 28 -> 14
            nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1, stride=2),  # 14 -> 7
            nn.ReLU(),
        )
        self.fc = nn.Linear(4 * w * 7 * 7, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, (self.in_channels, 28, 28))
        return self.fc(self.features(x).flatten(1))


class PooledConvNet(ConvNet):
    """ReLU ConvNet with max-pooling, shaped like the ``ConvNet`` of Geiping et al.'s code.

    conv(w) → ReLU → conv(2w) → ReLU → max-pool(3) → conv(4w) → ReLU →
    max-pool(3) → FC(num_classes), all convolutions 3×3 with padding 1. On
    28×28 inputs the pools give 28 → 9 → 3, so the last layer sees
    4w·3·3 = 36w features, the ``Linear(36 * width, num_classes)`` of the
    authors' ``inversefed/nn/models.py``. At width 16 that is 576 features,
    fewer than the 784 pixels, as in the paper's networks; :class:`ConvNet`
    instead hands 4w·49 = 3,136 features (4× the pixels) to its last layer,
    which by Proposition 3.1 of :cite:t:`geiping2020inverting` leaks an
    overcomplete code of the image. Departures from the authors' network:
    three convolutions instead of seven, no batch normalisation (an untrained
    network in ``eval()`` mode has identity BN anyway), so an attack runs in
    seconds on a CPU.

    Parameters
    ----------
    width : int, default 16
        Channels of the first convolution.
    num_classes : int, default 10
    in_channels : int, default 1
    seed : int, default 0

    Examples
    --------
    >>> model = PooledConvNet(width=8, seed=0)
    >>> model(torch.zeros(2, 1, 28, 28)).shape, model.fc.in_features
    (torch.Size([2, 10]), 288)
    """

    def _build(self) -> None:
        w = self.width
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3),  # 28 -> 9
            nn.Conv2d(2 * w, 4 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3),  # 9 -> 3
        )
        self.fc = nn.Linear(4 * w * 3 * 3, self.num_classes)


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetSmall(_WidthModule):
    """A small residual network (ResNet-8 style) for 28×28 images.

    Stem conv(w) + BN + ReLU, then three stages of one basic block each with
    w, 2w, 4w channels (strides 1, 2, 2), global average pooling and a linear
    layer. Batch normalisation follows He et al.; put the model in ``eval()``
    mode for single-image attacks so that BN uses its running statistics.

    Parameters
    ----------
    width : int, default 16
    num_classes : int, default 10
    in_channels : int, default 1
    seed : int, default 0

    Examples
    --------
    >>> ResNetSmall(width=8, seed=0).eval()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def _build(self) -> None:
        w = self.width
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()
        )
        self.stages = nn.Sequential(
            _BasicBlock(w, w, 1), _BasicBlock(w, 2 * w, 2), _BasicBlock(2 * w, 4 * w, 2)
        )
        self.fc = nn.Linear(4 * w, self.num_classes)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, (self.in_channels, 28, 28))
        out = self.stages(self.stem(x))
        return self.fc(out.mean(dim=(2, 3)))


def train_model(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 1,
    optimizer: str = "adam",
    lr: float = 3e-3,
    momentum: float = 0.9,
    batch_size: int = 32,
    seed: int = 0,
) -> nn.Module:
    """Train a model centrally (cross-entropy), in place, reproducibly.

    Used to obtain the "trained" networks of the attack chapter in seconds
    instead of loading weights from disk.

    Parameters
    ----------
    model : torch.nn.Module
        Model to train (modified in place and returned, in ``eval()`` mode).
    images, labels : torch.Tensor
        ``[N, C, H, W]`` images and ``[N]`` integer labels.
    epochs : int, default 1
    optimizer : {"adam", "sgd"}, default "adam"
        Adam trains the sigmoid LeNet, whose wide uniform initialisation
        stalls plain SGD, in seconds.
    lr : float, default 3e-3
    momentum : float, default 0.9
        SGD momentum (ignored by Adam).
    batch_size : int, default 32
    seed : int, default 0
        Seed of the shuffling order.

    Returns
    -------
    torch.nn.Module
        The trained model.

    Examples
    --------
    >>> x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    >>> train_model(LeNetZhu(seed=0), x, y, epochs=1).training
    False
    """
    check_int("epochs", epochs, example=1)
    check_int("batch_size", batch_size, example=32)
    check_number("lr", lr, positive=True, example=3e-3)
    check_choice("optimizer", optimizer, ("adam", "sgd"))
    if len(images) != len(labels) or len(labels) == 0:
        raise ValueError("images and labels must be non-empty and of the same length.")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=gen)
        for start in range(0, len(labels), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(
                model(images[idx].to(device)), labels[idx].to(device)
            )
            loss.backward()
            opt.step()
    return model.eval()


class BottomModel(nn.Module):
    """Two 5×5 convolutions and three FC layers: CAFE's worker (bottom) model, scaled down.

    The CAFE code uses 64 and 128 channels and FC widths 256, 64, 10; we keep the layout
    (conv–ReLU–max-pool twice, then FC–ReLU–FC–ReLU–FC) with smaller widths so that a CPU
    runs thousands of attack iterations in minutes. Used by both CAFE federations
    (:mod:`fl_course.federation.vertical`, :mod:`fl_course.federation.indexed_fedsgd`).

    Parameters
    ----------
    image_size : int
        Side of the square input (14 for an MNIST quarter, 28 for a full image).
    in_channels : int
        Input channels.
    channels : tuple of int
        Output channels of the two convolutions.
    hidden : tuple of int
        Widths of the first two FC layers. The first FC layer (``fc1``) is the one whose
        input CAFE recovers; it should be at least as wide as the batch (Section 4.2).
    out_features : int
        Width of the output (sent to the server in VFL; the logits in HFL).
    seed : int
        Seed for the initial weights (the global random state is left untouched).

    Examples
    --------
    >>> import torch
    >>> net = BottomModel(image_size=14, seed=0)
    >>> net(torch.zeros(2, 1, 14, 14)).shape, net.features(torch.zeros(2, 1, 14, 14)).shape
    (torch.Size([2, 10]), torch.Size([2, 512]))
    """

    def __init__(
        self,
        image_size: int = 14,
        in_channels: int = 1,
        channels: tuple[int, int] = (16, 32),
        hidden: tuple[int, int] = (64, 32),
        out_features: int = 10,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value in [
            ("image_size", image_size),
            ("in_channels", in_channels),
            ("out_features", out_features),
            *zip(["channels[0]", "channels[1]"], channels),
            *zip(["hidden[0]", "hidden[1]"], hidden),
        ]:
            check_int(name, value)
        check_seed(seed)
        self.image_size = image_size
        side = -(-(-(-image_size // 2)) // 2)  # two ceil-mode 2×2 poolings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(in_channels, channels[0], 5, padding=2)
            self.conv2 = nn.Conv2d(channels[0], channels[1], 5, padding=2)
            self.fc1 = nn.Linear(channels[1] * side * side, hidden[0])
            self.fc2 = nn.Linear(hidden[0], hidden[1])
            self.fc3 = nn.Linear(hidden[1], out_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the input of ``fc1`` (CAFE's internal representation H), ``[N, D]``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, ceil_mode=True)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, ceil_mode=True)
        return x.flatten(1)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the three FC layers to the representation ``h``."""
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(h)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
