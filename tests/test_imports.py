"""The package's import graph: no circles, and no arrow that runs back up the layers.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import`` of a
``dalib`` module, at module level or inside a function (a function-level import is still an arrow:
it only runs later). Each name imported from a package counts as an arrow to its submodule where one
exists. The layers below are the house's floors, lowest first; a module may import its own floor
or lower ones.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [  # lowest first; a module's floor is that of its longest matching prefix
    [
        "dalib.atomic",
        "dalib.paths",
        "dalib.device",
        "dalib.seeding",
        "dalib.precision",
        "dalib.lock",
        "dalib.validate",
        "dalib.stats",
        "dalib.paper",
        "dalib.theory",
        "dalib.theory_v2",
        "dalib.calibration",
    ],
    ["dalib.notebooks", "dalib.records"],  # notebook format, result records
    ["dalib.run"],  # the runner: parameters, plans, execution (imports nothing that computes)
    ["dalib.models", "dalib.data"],
    ["dalib.attacks", "dalib.metrics"],
    ["dalib.sensitivity", "dalib.train", "dalib.zeroshot"],
    [
        "dalib.ladder",
        "dalib.analysis",
        "dalib.mechanism",
        "dalib.depth",
        "dalib.plots",
        "dalib.pack",
        "dalib.pilot",
        "dalib.campaign",
        "dalib.beyond_v2",
    ],
    ["dalib.claims", "dalib.scorecard"],  # every claim from records (the registry), and the scorecard that iterates it
    ["dalib.chapters"],  # the chapters: load, draw and glue (intro and results present the scorecard)
    ["dalib.validators", "dalib", "dalib.__main__"],  # the notebooks' validators check every floor
]


def modules():
    out = {}
    for p in (ROOT / "dalib").rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = p
    return out


def import_graph():
    mods = modules()
    edges = {}
    for name, path in mods.items():
        pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = (
                    ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level
                    else node.module
                )
                if not base or not base.startswith("dalib"):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in mods else base)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("dalib")}
        edges[name] = {t for t in targets if t in mods and t != name}
    return edges


def floor(module: str) -> int:
    best, level = -1, None
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, f"{module} is on no floor of LAYERS"
    return level


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_circles():
    assert cycles(import_graph()) == []


def test_no_import_runs_back_up_the_floors():
    up = sorted(f"{a} -> {b}" for a, bs in import_graph().items() for b in bs if floor(b) > floor(a))
    assert up == [], "imports that run back up:\n" + "\n".join(up)


def test_the_checks_see_a_circle_and_an_upward_arrow():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert floor("dalib.attacks.pgd") > floor("dalib.models.vit")
    assert floor("dalib.chapters.intro") == floor("dalib.chapters.depth1") > floor("dalib.scorecard")
    assert floor("dalib.scorecard") == floor("dalib.claims.depth1") > floor("dalib.analysis")
