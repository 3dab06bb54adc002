"""The Runs page: every result record of a profile (current or stale), the parameters of each
notebook's records, the environments they ran in, and the runs still pending.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from functools import cached_property

from ..paths import current_profile, project_root
from ..records import all_records, is_current
from . import _show as show


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(rows, cols) -> str:
    """A Markdown table (rendered like the book's other tables)."""
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _plain(v) -> str:
    """A parameter value as readable text: strings bare, lists and dicts compact, no quotes."""
    import json

    if isinstance(v, str):
        return v
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":")).replace('"', "")
    return str(v)


ENV_COLUMNS = [
    "python_version",
    "torch_version",
    "torchvision_version",
    "timm_version",
    "numpy_version",
    "pandas_version",
    "hostname",
    "cpu_count",
]


class Chapter:
    """The records and run plans of one profile."""

    def __init__(self, profile: str | None = None):
        from ..run import RunError, load_notebook, profile_plans, runnable_notebooks

        self.profile = profile = profile or current_profile()
        root = project_root()
        self.records = sorted(all_records(profile), key=lambda r: (r["notebook"], r.get("finished", "")))
        self.sources = {}  # stem -> current notebook source text
        self.plans = []  # the runs `make results` makes for this profile
        self.problems = []
        for path in runnable_notebooks(root):
            try:
                nb = load_notebook(path, root)
                self.plans += profile_plans(nb, profile, root)
            except RunError as e:
                self.problems.append((path.relative_to(root).as_posix(), str(e)))
                continue
            self.sources[nb.stem] = nb.text

    def status_of(self, rec) -> str:
        text = self.sources.get(rec["stem"])
        if text is None:
            return "notebook gone"
        if not is_current(rec, text):
            return "stale"
        return "current, `-p`" if rec.get("overrides") else "current"

    def summary(self) -> None:
        n_current = sum(self.status_of(r).startswith("current") for r in self.records)
        show.md(
            f"Profile **`{self.profile}`**: {len(self.records)} record(s), {n_current} of them current; "
            f"{len(self.sources)} experiment/benchmark notebook(s), asking for {len(self.plans)} run(s)."
        )

    @cached_property
    def _by_notebook(self) -> dict:
        """The records grouped by notebook path (first-seen order)."""
        by_nb = {}
        for r in self.records:
            by_nb.setdefault(r["notebook"], []).append(r)
        return by_nb

    def records_table(self) -> None:
        """One folded group per notebook: its records (status, commit, device, wall time) and, per
        record, the parameters that differ between that notebook's records as ``key=value`` text."""
        if not self.records:
            return show.md(
                f"No records for profile `{self.profile}` yet. `make results PROFILE={self.profile}` runs "
                "every pending notebook."
            )
        groups = []
        for k, (nb_path, recs) in enumerate(self._by_notebook.items(), 1):
            names = list(dict.fromkeys(k for r in recs for k in r.get("params", {})))
            varying = [k for k in names if len({repr(r.get("params", {}).get(k)) for r in recs}) > 1]
            shared = [k for k in names if k not in varying]
            status = [self.status_of(r) for r in recs]
            n_cur = sum(x.startswith("current") for x in status)
            wall = sum(r.get("wall_time_s") or 0 for r in recs)
            rows = [
                {
                    "record": f"`{r['key']}`",
                    "parameters that differ": ", ".join(f"{k}={_plain(r.get('params', {}).get(k))}" for k in varying)
                    or "-",
                    "status": st,
                    "commit": f"`{(r.get('git_commit') or 'unknown')[:8]}`" + ("*" if r.get("git_dirty") else ""),
                    "device": r.get("device"),
                    "wall (s)": f"{r.get('wall_time_s') or 0:.0f}",
                    "finished (UTC)": (r.get("finished") or "")[:16].replace("T", " "),
                }
                for r, st in zip(recs, status)
            ]
            cols = ["record", "parameters that differ", "status", "commit", "device", "wall (s)", "finished (UTC)"]
            groups.append(
                f"<details><summary><code>{nb_path}</code>: {len(recs)} record{'s' * (len(recs) != 1)}, {n_cur} "
                f"current, {wall / 3600:.2f} h of wall time</summary>\n\n"
                + (
                    "Parameters shared by every record: "
                    + ", ".join(f"{k}={_plain(recs[0]['params'][k])}" for k in shared)
                    if shared
                    else ""
                )
                + "\n\n"
                + show.md_table(md_table(rows, cols), f"U{k}", f"The records of `{nb_path}`.")
                + "\n\n</details>"
            )
        show.md("\n\n".join(groups) + "\n\n\\* `dalib/` or the notebook had uncommitted changes when the run started.")

    def environments(self) -> None:
        envs = {}
        for r in self.records:
            envs.setdefault(tuple(r.get(c) for c in ENV_COLUMNS), []).append(r)
        rows = [
            {**{c.replace("_version", ""): v for c, v in zip(ENV_COLUMNS, key)}, "records": len(recs)}
            for key, recs in envs.items()
        ]
        cols = [c.replace("_version", "") for c in ENV_COLUMNS] + ["records"]
        n = len(self._by_notebook) + 1
        show.md(
            show.md_table(md_table(rows, cols), f"U{n}", "The software of the runs: one row per environment.")
            if rows
            else "No records, so no run environment to show."
        )

    def pending(self) -> None:
        pending = [
            {
                "notebook": f"`{pl.nb.rel}`",
                "sweep point": ", ".join(f"{k}={_plain(v)}" for k, v in pl.sweep.items()) or "-",
                "would write": f"`{pl.nb.stem}/{pl.key}`",
            }
            for pl in self.plans
            if not pl.done
        ]
        pending += [
            {"notebook": f"`{rel}`", "sweep point": "-", "would write": f"error: {err}"} for rel, err in self.problems
        ]
        if not pending:
            return show.md("None: every run of every experiment and benchmark notebook has a record.")
        table = show.md_table(
            md_table(pending, ["notebook", "sweep point", "would write"]),
            f"U{len(self._by_notebook) + 2}",
            "The runs that have no record yet.",
        )
        show.md(
            table
            if len(pending) <= 10
            else f"<details><summary>{len(pending)} pending runs</summary>\n\n{table}\n\n</details>"
        )
