"""``python -m dalib.pack NOTEBOOK [NOTEBOOK ...]``: the notebooks' current records, and the model-zoo entries and
ladder states they name (and the committed states of unfinished long runs), in one archive, for the trip back from a machine that made them (a GPU
machine lent for one command).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.

The archive holds paths relative to the project root (``results/<profile>/<stem>/<key>.json`` and
``.ipynb``, ``zoo/<name>.safetensors`` and its ``.sha256``, ``zoo/ladder-states/<run>.pt``), so that
``tar -xzf ARCHIVE`` in a checkout puts every file where the runner and the chapters look. A zoo
entry is named by a record row's ``zoo_file``; a record that names one the zoo does not hold is an
error (the archive would not re-attack), and nothing is written.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from dalib.notebooks import RunError


def members(stem: str, profile: str, root: Path, zoo: Path) -> list[Path]:
    """The files to pack, absolute: the current records of ``stem`` under ``profile``, the zoo
    entries their rows name, and the ladder states of those entries' runs."""
    from dalib.ladder import STATE_DIR, run_id
    from dalib.models.zoo import entry_paths
    from dalib.records import records_with_paths

    recs = records_with_paths(stem, profile, root, "current")
    if not recs:
        raise RunError(
            f"no current record of {stem} under profile {profile}: run `python -m dalib.run {stem} "
            f"--profile {profile}` first"
        )
    files, missing = [], []
    for rec, path in recs:
        files += [path, path.with_suffix(".ipynb")]
        if rec.get("params", {}).get("save_to_zoo") is False:
            continue  # its models went to a scratch zoo (the ladder's smoke profile): nothing to bring back
        for rows in rec.get("tables", {}).values():
            for row in rows:
                name = str(row.get("zoo_file") or "").removesuffix(".safetensors")
                if not name:
                    continue
                weights, meta = entry_paths(name, zoo)
                if not weights.exists():
                    missing.append(name)
                    continue
                files += [weights, meta]
                state = zoo / STATE_DIR / f"{run_id(_config_of(weights))}.pt"
                if state.exists():
                    files.append(state)
    if missing:
        raise RunError(f"records of {stem} name zoo entries that {zoo} does not hold: {sorted(set(missing))}")
    from dalib.campaign import STATE_DIR as CAMPAIGN_STATES

    files += sorted((zoo / CAMPAIGN_STATES).glob("*.pt"))  # unfinished long runs: their committed states come back too
    return sorted({f for f in files if f.exists()})


def _config_of(weights: Path) -> dict:
    """The training configuration a zoo entry's safetensors header holds."""
    import json

    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("config", "{}"))


def pack(stem, profile: str, out: Path, root: Path, zoo: Path | None = None) -> list[str]:
    """Write the archive ``out`` (``.tar.gz``) of the notebook ``stem`` (or of each of several, a
    list: a campaign that trains with one notebook and measures with others); return its member
    names (relative to ``root``, or ``zoo/...`` for the zoo's files)."""
    from dalib.models.zoo import zoo_dir

    zoo = Path(zoo or zoo_dir())
    stems = [stem] if isinstance(stem, str) else list(stem)
    files = sorted({f for s in stems for f in members(s, profile, root, zoo)})
    names = []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for f in files:
            name = (
                f.relative_to(root).as_posix()
                if f.is_relative_to(root) and not f.is_relative_to(zoo)
                else "zoo/" + f.relative_to(zoo).as_posix()
            )
            tar.add(f, arcname=name)
            names.append(name)
    tmp.replace(out)  # nothing half-written under the final name
    return names


def main(argv) -> int:
    import argparse
    import sys

    from dalib.notebooks import PROFILES, resolve_notebook
    from dalib.paths import DEFAULT_PROFILE, project_root

    ap = argparse.ArgumentParser(
        prog="python -m dalib.pack",
        description="Pack NOTEBOOK's current records and the zoo entries (and ladder states) they name into one "
        ".tar.gz, with paths relative to the project root (unpack with tar -xzf in a checkout).",
    )
    ap.add_argument("notebook", nargs="+", help="paths under notebooks/ or stems (several: one archive of all)")
    ap.add_argument(
        "--profile", default=DEFAULT_PROFILE, choices=PROFILES, help=f"parameter profile (default: {DEFAULT_PROFILE})"
    )
    ap.add_argument("--out", required=True, help="archive to write (.tar.gz)")
    args = ap.parse_args(argv)
    root = project_root()
    try:
        stems = [resolve_notebook(n, root).stem for n in args.notebook]
        names = pack(stems, args.profile, Path(args.out), root)
    except RunError as e:
        print(f"dalib.pack: {e}", file=sys.stderr)
        return 2
    n_rec = sum(n.endswith(".json") and n.startswith("results/") for n in names)
    n_zoo = sum(n.endswith(".safetensors") for n in names)
    print(f"dalib.pack: {args.out}: {n_rec} records, {n_zoo} zoo entries, {len(names)} files")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
