"""How tests/data/mnist_small.npz was made: the first 1,000 training and first 500 test digits of
MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0), as uint8 arrays, so the suite runs on a machine
with no MNIST and no network (tests/conftest.py writes them out in torchvision's raw idx layout).

    python tests/data/make_small_mnist.py /path/to/data   # a root holding MNIST/raw/*-ubyte
"""
import sys
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 1000, 500


def main(root: str) -> None:
    import torchvision

    tr = torchvision.datasets.MNIST(root, train=True, download=False)
    te = torchvision.datasets.MNIST(root, train=False, download=False)
    out = Path(__file__).with_name("mnist_small.npz")
    np.savez_compressed(out, train_images=tr.data[:N_TRAIN].numpy(), train_labels=tr.targets[:N_TRAIN].numpy().astype(np.uint8),
                        test_images=te.data[:N_TEST].numpy(), test_labels=te.targets[:N_TEST].numpy().astype(np.uint8))
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(sys.argv[1])
