"""``python -m dalib.data [NAME ...] [--root DIR] [--offline]``: find (unpack, decode, cache) every
split of the named datasets and print where it came from, or why it is missing."""

from __future__ import annotations

from .registry import DATASETS, SPLITS, load_dataset
from .sources import DatasetNotFoundError


def main(argv=None) -> int:
    """``python -m dalib.data [NAME ...]``: find (unpack, decode and cache) each dataset split and
    print where it came from, or why it is missing. Exit status 1 if any split is missing."""
    import argparse
    import time

    p = argparse.ArgumentParser(prog="python -m dalib.data", description=main.__doc__)
    p.add_argument("names", nargs="*", default=sorted(DATASETS), help="dataset names (default: all)")
    p.add_argument("--root", default=None, help="data root (default $DALIB_DATA or <repo>/data)")
    p.add_argument("--offline", action="store_true", help="do not try downloads")
    args = p.parse_args(argv)
    missing = 0
    for name in args.names:
        for split in SPLITS.get(name, ("?",)):
            t = time.perf_counter()
            try:
                ds = load_dataset(name, split, root=args.root, download=False if args.offline else None)
            except (DatasetNotFoundError, ValueError) as e:
                missing += 1
                print(f"{name}/{split}: MISSING\n  " + str(e).replace("\n", "\n  "))
                continue
            note = f"  [{ds.fidelity}]" if ds.fidelity else ""
            print(
                f"{name}/{split}: {len(ds)} images {tuple(ds[0][0].shape)} from {ds.source} "
                f"({time.perf_counter() - t:.1f} s){note}"
            )
    return 1 if missing else 0
