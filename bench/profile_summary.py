"""Summarize `py-spy record -f raw` files (collapsed stacks): the functions with the most samples
on the stack (inclusive) and at the top of it (self), as a share of the file's samples.

    python bench/profile_summary.py FILE [--top 25] [--match TEXT]
"""

from __future__ import annotations

import argparse
from collections import Counter


def short(frame: str) -> str:
    """`func (path/to/file.py:12)` -> `func file.py`."""
    func, _, where = frame.partition(" (")
    return f"{func} {where.rsplit('/', 1)[-1].split(':')[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    with open(args.file) as f:
        for line in f:
            stack, _, count_s = line.rstrip().rpartition(" ")
            if not stack:
                continue
            count = int(count_s)
            frames = [
                fr.split(" (")[0] + " " + fr.split("/")[-1].rstrip(")") for fr in stack.split(";")
            ]
            total += count
            for name in set(frames):
                inclusive[name] += count
            self_[frames[-1]] += count
    print(f"{args.file}: {total} samples")
    for title, counter in (("inclusive", inclusive), ("self", self_)):
        print(f"-- {title}")
        shown = 0
        for name, count in counter.most_common():
            if args.match and args.match not in name:
                continue
            print(f"{100 * count / total:6.1f}%  {name}")
            shown += 1
            if shown >= args.top:
                break


if __name__ == "__main__":
    main()
