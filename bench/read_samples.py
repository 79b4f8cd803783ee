"""Where a sampled job's time went: ``python bench/read_samples.py SAMPLES_FILE [--from S]
[--to S] [--thread NAME] [--top N] [--under TEXT]``.

Reads what ``bench/sampled_wfrun.py`` wrote and prints, for the chosen window of the job's
clock and thread (the main thread by default), the functions by the time they were on the
stack (inclusive, per function) and at its top (exclusive, per line), in seconds. ``--under TEXT`` keeps only the
samples whose stack has a frame containing TEXT (one node's executor, one import)."""

from __future__ import annotations

import argparse
import collections
import gzip
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("samples")
    parser.add_argument("--from", dest="start", type=float, default=0.0)
    parser.add_argument("--to", dest="end", type=float, default=1e9)
    parser.add_argument("--thread", default="MainThread")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--under", default="")
    args = parser.parse_args()
    with gzip.open(args.samples, "rt") as src:
        data = json.load(src)
    frames = data["frames"]
    inclusive: collections.Counter = collections.Counter()
    exclusive: collections.Counter = collections.Counter()
    count, seconds = 0, 0.0
    for t, weight, thread, stack in data["samples"]:
        if not (args.start <= t < args.end) or not thread.startswith(args.thread):
            continue
        names = [frames[i] for i in stack]
        if args.under and not any(args.under in n for n in names):
            continue
        count, seconds = count + 1, seconds + weight
        for name in {n.split(":")[0] + " " + n.rsplit(" ", 1)[-1] for n in names}:  # per function
            inclusive[name] += weight
        if names:
            exclusive[names[-1]] += weight
    print(f"{count} samples = {seconds:.2f} s on {args.thread} in [{args.start}, {min(args.end, 1e8)})")
    for title, counter in (("inclusive", inclusive), ("exclusive", exclusive)):
        print(f"-- {title}")
        for name, n in counter.most_common(args.top):
            print(f"{n:8.3f}  {name[-150:]}")


if __name__ == "__main__":
    main()
