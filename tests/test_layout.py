"""Layout rules, read from the source (AST), so a violation fails here before it becomes a hidden
dependency: eval and serve never import each other, no module is loaded by a computed name, and the
runtime package sits below the systems, the evaluation and the UI."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "alslm_ml"


def modules(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in the file names (functions
    included), resolved to absolute names."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from alslm_ml import serve`
    return names


def reaches(names: set[str], package: str) -> list[str]:
    return sorted(n for n in names if n == package or n.startswith(package + "."))


def test_imported_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "alslm_ml" / "serve"
    pkg.mkdir(parents=True)
    mod = pkg / "x.py"
    mod.write_text("def f():\n    from alslm_ml.eval import runner\n\nfrom ..eval import scoring\nfrom alslm_ml import eval\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert reaches(imported(mod), "alslm_ml.eval") == ["alslm_ml.eval", "alslm_ml.eval.runner", "alslm_ml.eval.scoring"]
    finally:
        ROOT = old


@pytest.mark.parametrize(("lower", "upper"), [("alslm_ml/eval", "alslm_ml.serve"), ("alslm_ml/serve", "alslm_ml.eval")])
def test_eval_and_serve_do_not_import_each_other(lower, upper):
    bad = {str(p.relative_to(ROOT)): reaches(imported(p), upper) for p in modules(lower)}
    assert not {k: v for k, v in bad.items() if v}, f"{lower} must not import {upper} (wire them in alslm_ml/cli.py)"


def test_runtime_sits_below_the_systems():
    above = ("alslm_ml.eval", "alslm_ml.serve", "alslm_ml.rag", "alslm_ml.finetune", "alslm_ml.scratch",
             "alslm_ml.systems", "alslm_ml.answer", "alslm_ml.cli")
    bad = {str(p.relative_to(ROOT)): [n for pkg in above for n in reaches(imported(p), pkg)]
           for p in modules("alslm_ml/runtime")}
    assert not {k: v for k, v in bad.items() if v}


def test_no_system_module_imports_serve_or_eval():
    """The systems and their types sit below the UI and the evaluation."""
    files = [LIBRARY / "systems.py", LIBRARY / "scratch.py", LIBRARY / "answer.py", LIBRARY / "rag" / "system.py",
             LIBRARY / "finetune" / "system.py"]
    bad = {str(p.relative_to(ROOT)): reaches(imported(p), "alslm_ml.serve") + reaches(imported(p), "alslm_ml.eval")
           for p in files}
    assert not {k: v for k, v in bad.items() if v}


DYNAMIC = {"import_module", "__import__", "spec_from_file_location", "module_from_spec", "load_module"}


def loads_by_name(path: Path) -> list[str]:
    """Calls that load a module from a name or file computed at run time. importlib.util.find_spec
    (an optional-dependency probe that loads nothing) is allowed."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in DYNAMIC:
                found.append(f"{name} (line {node.lineno})")
    return found


def test_loads_by_name_finds_the_dynamic_calls(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import importlib, importlib.util\nimportlib.import_module('x' + y)\n__import__(n)\n"
                 "importlib.util.spec_from_file_location('m', p)\nimportlib.util.find_spec('llama_cpp')\n")
    assert loads_by_name(f) == ["import_module (line 2)", "__import__ (line 3)", "spec_from_file_location (line 4)"]


def test_no_module_is_loaded_by_name():
    bad = {str(p.relative_to(ROOT)): loads_by_name(p) for p in modules("alslm_ml", "alslm_assets")}
    assert not {k: v for k, v in bad.items() if v}, "import modules statically (or inside a function), not by name"


def test_every_asset_module_is_listed_in_definitions():
    """definitions.py lists the stage modules statically; a new module must be added there."""
    from alslm_assets import definitions

    listed = {m.__name__.rsplit(".", 1)[-1] for m in definitions.ASSET_MODULES}
    present = {p.stem for p in (ROOT / "alslm_assets" / "assets").glob("*.py") if p.stem != "__init__"}
    assert listed == present


def test_every_command_resolves_to_its_main():
    """cli.py imports each stage's main statically (inside command_main), one per listed command."""
    from alslm_ml import cli

    for name in cli.COMMANDS:
        assert callable(cli.command_main(name)), name
    with pytest.raises(ValueError, match="unknown command"):
        cli.command_main("nosuch")


def package_cycles(root: Path) -> list[list[str]]:
    """Cycles in the import graph of alslm_ml's top-level units (a package such as `eval`, or a
    module such as `paths`), imports inside functions included; `__main__.py` entry points, which
    nothing imports, are left out."""
    lib = root / "alslm_ml"
    unit = {}  # module path -> its unit
    for p in lib.rglob("*.py"):
        if p.name != "__main__.py":
            unit[p] = p.relative_to(lib).parts[0].removesuffix(".py")
    graph: dict[str, set[str]] = {u: set() for u in unit.values()}
    for p, u in unit.items():
        for name in imported(p):
            parts = name.split(".")
            if parts[0] == "alslm_ml" and len(parts) > 1 and parts[1] in graph and parts[1] != u:
                graph[u].add(parts[1])
    cycles, state, stack = [], {}, []

    def visit(u: str) -> None:
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == "open":
                cycles.append([*stack[stack.index(v):], v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = "done"

    for u in sorted(graph):
        if u not in state:
            visit(u)
    return cycles


def test_library_packages_form_no_import_cycle():
    """Each stage sits above the ones it uses: no two packages import each other, even through a
    third (move the shared piece down, as `terms.py` and `runtime/` were)."""
    assert not package_cycles(ROOT), package_cycles(ROOT)


def test_package_cycles_finds_a_cycle_through_a_third_package(tmp_path):
    global ROOT
    for rel, src in {"a/__init__.py": "", "a/x.py": "from alslm_ml.b import y\n",
                     "b/__init__.py": "", "b/y.py": "def f():\n    from alslm_ml import c\n",
                     "c.py": "import alslm_ml.a.x\n", "d.py": "from alslm_ml import c\n"}.items():
        (tmp_path / "alslm_ml" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "alslm_ml" / rel).write_text(src)
    old, ROOT = ROOT, tmp_path
    try:
        assert package_cycles(tmp_path) == [["a", "b", "c", "a"]]
    finally:
        ROOT = old


def test_llama_cpp_is_run_only_by_the_runtime():
    """Generating or scoring with a GGUF goes through alslm_ml/runtime (export/ may open one to
    verify the file it wrote)."""
    allowed = ("alslm_ml/runtime/", "alslm_ml/export/")
    bad = [str(p.relative_to(ROOT)) for p in modules("alslm_ml", "alslm_assets")
           if reaches(imported(p), "llama_cpp") and not str(p.relative_to(ROOT)).startswith(allowed)]
    assert not bad, f"modules running llama.cpp outside alslm_ml/runtime: {bad}"
