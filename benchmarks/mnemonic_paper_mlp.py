"""The mnemonic-code paper's MNIST setting, rebuilt on Fashion-MNIST (MNIST is not installed here).

The official repository's `conf/mnist.yaml`: an MLP 784-1000-C with a sigmoid hidden layer, inputs in [0, 1]
without normalisation, one uniform [0, 1) code per class replacing a training image with probability
t_mix = 0.1, SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 128, 200 epochs, no scheduler, seed 1;
forgetting with lambda1 1e-3 and lambda2 10. Here the same recipe runs on Fashion-MNIST (Debian's
dataset-fashion-mnist, 60,000 train / 10,000 test 28x28 images), and the forgetting step is this project's
`unlearn_core.methods.mnemonic` (official Fisher floor and sign rule). Every class is forgotten in turn from the
one trained model; the paper's config forgets class 0.

Usage: python benchmarks/mnemonic_paper_mlp.py [--epochs 200] > benchmarks/mnemonic_paper_mlp.md
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.methods.mnemonic import choose_sign, code_scores, fisher_ratio, perturb, perturbation

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx_gz(path: Path) -> np.ndarray:
    """An IDX file (gzip): big-endian magic (2 zero bytes, dtype 0x08 = uint8, number of dims), the sizes, the data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if split == "train" else "t10k"
    images = read_idx_gz(FASHION_MNIST / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx_gz(FASHION_MNIST / f"{prefix}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # ToTensor: [0, 1], no normalisation
    return x, torch.from_numpy(labels.astype(np.int64))


class PaperMLP(nn.Module):
    """784-1000-C with a sigmoid hidden layer, as the official models/mlp.py."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 1000)
        self.fc2 = nn.Linear(1000, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))


def train(x: torch.Tensor, y: torch.Tensor, codes: torch.Tensor, epochs: int, t_mix: float,
          generator: torch.Generator) -> PaperMLP:
    model = PaperMLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        # each sample is replaced by its class's code with probability t_mix, drawn anew every epoch
        use_code = torch.rand(len(y), generator=generator) < t_mix
        for start in range(0, len(y), 128):
            idx = order[start : start + 128]
            images = torch.where(use_code[idx].view(-1, 1, 1, 1), codes[y[idx]], x[idx])
            loss = F.cross_entropy(model(images), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def class_accuracies(model: nn.Module, x: torch.Tensor, y: torch.Tensor, forget: int) -> tuple[float, float]:
    correct = model(x).argmax(1) == y
    return float(correct[y == forget].float().mean()), float(correct[y != forget].float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="training epochs (official MNIST config: 200)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)  # the official config's seed; codes are the first draws, as get_MNCodes does
    codes = torch.rand(10, 1, 28, 28)
    generator = torch.Generator().manual_seed(1)
    x_train, y_train = load("train")
    x_test, y_test = load("test")
    start = time.perf_counter()
    model = train(x_train, y_train, codes, args.epochs, 0.1, generator)
    train_seconds = time.perf_counter() - start
    with torch.no_grad():
        test_acc = float((model(x_test).argmax(1) == y_test).float().mean())
        code_acc = float((model(codes).argmax(1) == torch.arange(10)).float().mean())

    print("# Mnemonic code, the paper's MNIST setting on Fashion-MNIST\n")
    print("**This is Fashion-MNIST, not the paper's MNIST** (MNIST is not installed on this machine). Recipe of the "
          "official `conf/mnist.yaml`: MLP 784-1000-10 (sigmoid), inputs in [0, 1], t_mix 0.1, SGD lr 0.01, "
          f"momentum 0.9, weight decay 5e-4, batch 128, {args.epochs} epochs (official: 200), seed 1; forgetting "
          "with lambda1 1e-3, lambda2 10 through `unlearn_core.methods.mnemonic` (official Fisher floor "
          "(1e-16 + sum g^2) / n, '+' only on a strictly higher code score). Produced by "
          f"`python benchmarks/mnemonic_paper_mlp.py --epochs {args.epochs}` on one CPU thread.\n")
    print(f"Trained in {train_seconds:.0f} s: test accuracy {test_acc:.4f}, codes recognised {code_acc:.0%}.\n")
    print("A_F: test accuracy on the forgotten class; A_R: test accuracy on the other classes (the paper's A_R). "
          "The paper's MNIST row (official README, class 0): E_F 100.0 +- 0.0, A_R 95.9 +- 0.1.\n")
    print("| forgotten class | A_F before | A_F after | A_R before | A_R after | sign | code scores + / - "
          "| A_F / A_R with the other sign | max kappa | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for forget in range(10):
        before_f, before_r = class_accuracies(model, x_test, y_test, forget)
        start = time.perf_counter()
        ratios = fisher_ratio(model, codes, (forget,))
        candidates = {sign: perturb(model, ratios, 1e-3, 10.0, sign) for sign in ("+", "-")}
        scores = {sign: code_scores(m, codes, (forget,)) for sign, m in candidates.items()}
        sign = choose_sign(scores)
        seconds = time.perf_counter() - start
        _, kappas = perturbation(ratios, 1e-3, 10.0)
        after_f, after_r = class_accuracies(candidates[sign], x_test, y_test, forget)
        other_f, other_r = class_accuracies(candidates["+" if sign == "-" else "-"], x_test, y_test, forget)
        print(f"| {forget} ({CLASSES[forget]}) | {before_f:.3f} | {after_f:.3f} | {before_r:.3f} | {after_r:.3f} | "
              f"{sign} | {scores['+']['score']:.2f} / {scores['-']['score']:.2f} | {other_f:.3f} / {other_r:.3f} | "
              f"{max(kappas.values()):.2g} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
