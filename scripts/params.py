"""Parameter counts of every head (and the classifier) at every dataset image size."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import variants  # noqa: E402
from common.config import Parser  # noqa: E402
from common.models import TutorialCNN, count_params  # noqa: E402
from common.runs import cli  # noqa: E402


def main(argv=None) -> int:
    Parser(description=__doc__).parse_args(argv)  # no options: --help, and an unknown flag is refused
    sizes = (28, 42, 60)
    print("| head | " + " | ".join(f"{s}x{s}" for s in sizes) + " | with --coordconv (28x28) |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name in variants.names():
        counts = [count_params(variants.build(name, (1, s, s))) for s in sizes]
        cc = count_params(variants.build(name, (1, 28, 28), **({"coordconv": True} if "coordconv" in variants.options(name) else {})))
        print(f"| {name} | " + " | ".join(f"{c:,}" for c in counts) + f" | {cc:,} |")
    counts = [count_params(TutorialCNN((1, s, s))) for s in sizes]
    print("| classifier (tutorial CNN) | " + " | ".join(f"{c:,}" for c in counts) + f" | {count_params(TutorialCNN((1, 28, 28), coordconv=True)):,} (with --coordconv-classifier) |")
    return 0


if __name__ == "__main__":
    sys.exit(cli(main))
