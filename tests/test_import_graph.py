"""The import graph of sltsim, read from the source with ``ast``: no cycle, no torch in the engine.

Every ``import`` and ``from ... import`` counts, at module level and inside functions (a
"late" import still makes one module depend on another at run time). The one allowed
exception is :func:`sltsim.registry.load`, the single documented place that imports the
packages filling the registries; the rest of :mod:`sltsim.registry` imports nothing from sltsim.
"""

from __future__ import annotations

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1] / "sltsim"
#: (module, function) whose imports are left out of the graph: the registry's one loader.
ALLOWED_LOADERS = {("sltsim.registry", "load")}


def _modules() -> dict:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str:
    """The module that ``name`` (a module or a name inside one) lives in."""
    while name not in MODULES:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, path: Path):
    """(imported sltsim module, line, enclosing function or None) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and function is None \
                else function
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module
                for a in child.names:
                    sub = f"{source}.{a.name}"
                    found.append((sub if sub in MODULES else source, child.lineno, function))
            visit(child, inner)

    visit(tree, None)
    return found


def graph(skip_loaders: bool = True) -> dict:
    """{module: {imported sltsim module: first line}} over every module of sltsim."""
    edges = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        for name, line, function in _imports(module, path):
            if name.split(".")[0] != "sltsim" or (skip_loaders and (module, function) in ALLOWED_LOADERS):
                continue
            target = _owner(name)
            if target != module:
                edges[module].setdefault(target, line)
    return edges


def find_cycle(edges: dict):
    """One cycle as [m0, m1, ..., m0], or None (depth-first search, three colours)."""
    colour, stack = {m: 0 for m in edges}, []

    def dfs(m):
        colour[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if colour[t] == 1:
                return stack[stack.index(t):] + [t]
            if colour[t] == 0 and (c := dfs(t)):
                return c
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(edges):
        if colour[m] == 0 and (c := dfs(m)):
            return c
    return None


def _describe(edges, cycle) -> str:
    return " -> ".join(f"{a} (line {edges[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_find_cycle_finds_a_planted_one():
    # the checker itself: a three-module cycle is found, a chain is not
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) is None


def test_late_imports_are_seen():
    # config.py reaches its registries through registry.load(), a late import; without the
    # loader exception the graph must see the cycle it would otherwise close
    assert find_cycle(graph(skip_loaders=False)) is not None


def test_registry_imports_nothing_from_sltsim_but_in_its_loader():
    imports = [(n, ln, f) for n, ln, f in _imports("sltsim.registry", MODULES["sltsim.registry"])
               if n.split(".")[0] == "sltsim"]
    assert imports and all(("sltsim.registry", f) in ALLOWED_LOADERS for _, _, f in imports), imports


def test_no_import_cycle_anywhere():
    edges = graph()
    cycle = find_cycle(edges)
    assert cycle is None, f"import cycle: {_describe(edges, cycle)}"


def test_engine_never_imports_torch():
    edges = graph()
    reach, todo = set(), [m for m in MODULES if m.startswith("sltsim.engine")]
    while todo:  # every sltsim module the engine reaches, late imports included
        m = todo.pop()
        if m not in reach:
            reach.add(m)
            todo.extend(edges[m])
    offenders = [(m, ln) for m in sorted(reach) for n, ln, _ in _imports(m, MODULES[m])
                 if n.split(".")[0] == "torch" or n.startswith("sltsim.torch_backend")]
    assert not offenders, f"the engine reaches torch: {offenders}"
