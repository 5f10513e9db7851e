"""The import contract: every module imports only from its own layer or below (README, "Layout").

It reads the source, so it sees imports inside functions too (heavy libraries are imported lazily,
and a lazy import of a higher layer is still a dependency on it). Within a layer, the packages listed
together are independent of one another: none imports another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sandbox", "pseudocode", "coder_rl", "tcg")

# Bottom up. A module belongs to the layer of the longest prefix naming it; `coder_rl` names only the
# package's own (import-free) `__init__`, so a new module under it must be filed here.
LAYERS: list[tuple[str, list[str]]] = [
    ("sandbox", ["sandbox"]),
    (
        "core",
        [
            "coder_rl",
            "coder_rl.errors",
            "coder_rl.config",
            "coder_rl.logs",
            "coder_rl.devices",
            "coder_rl.data",
            "coder_rl.prompts",
            "pseudocode",
            "coder_rl.trajectory",
            "coder_rl.execution",
            "coder_rl.rewards",
            "coder_rl.rundir",
            "coder_rl.models.paths",
            "coder_rl.training",
        ],
    ),  # fmt: skip
    ("backends", ["coder_rl.policy", "coder_rl.models"]),
    ("components", ["tcg", "coder_rl.prm"]),
    ("integrations", ["coder_rl.integrations"]),
    (
        "pipelines",
        [
            "coder_rl.mcts",
            "coder_rl.rl",
            "coder_rl.verify",
            "coder_rl.generate",
            "coder_rl.check",
            "coder_rl.evaluate",
        ],
    ),
    ("search", ["coder_rl.search"]),
    ("self-play", ["coder_rl.selfplay"]),
    ("benchmarks", ["coder_rl.bench"]),
    ("entry points", ["coder_rl.cli", "coder_rl.serve"]),
]
# Layers whose packages may use one another (the core types build on each other; a backend may
# build a model it then loads).
SHARED = {"sandbox", "core", "backends", "entry points"}


def _owner(module: str) -> tuple[int, str]:
    """(layer index, the prefix it is filed under) for a module of this repository."""
    best: tuple[int, str] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = module.startswith(prefix + ".") and prefix != "coder_rl"
            if (module == prefix or below) and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _module(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(root: Path, path: Path) -> set[str]:
    module = _module(root, path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            # `from pkg import mod` may import a submodule
            found |= {name} | {f"{name}.{alias.name}" for alias in node.names}
    return found


def _known(root: Path, name: str) -> str:
    """The module an imported name refers to: the longest prefix that is a file or package here."""
    parts = name.split(".")
    while parts:
        candidate = root.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    raise AssertionError(f"{name} is not a module of this repository")


def violations(root: Path = ROOT) -> list[str]:
    """Every import in the packages under `root` that breaks the contract, one line each."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module(root, path)
            layer, prefix = _owner(module)
            ours = {name for name in _imports(root, path) if name.split(".")[0] in PACKAGES}
            for imported in sorted({_known(root, name) for name in ours}):
                target_layer, target_prefix = _owner(imported)
                name = LAYERS[layer][0]
                if target_layer > layer:
                    found.append(f"{module} ({name}) imports {imported} ({LAYERS[target_layer][0]}): upward")
                elif target_layer == layer and target_prefix != prefix and name not in SHARED:
                    found.append(f"{module} imports {imported}: both in {name}, which are independent")
    return found


def test_every_module_imports_only_its_layer_or_below():
    assert violations() == []


def test_the_contract_catches_upward_and_sideways_imports(tmp_path):
    """The checker itself, on a small tree: a core module importing a pipeline (lazily, inside a
    function) and one pipeline importing another are caught; importing downward is not."""
    files = {
        "coder_rl/__init__.py": "",
        "coder_rl/data/__init__.py": "def f():\n    from coder_rl.rl.run import run_rl\n",
        "coder_rl/rl/__init__.py": "",
        "coder_rl/rl/run.py": "from ..data import f\nfrom coder_rl import verify\n",
        "coder_rl/verify.py": "import coder_rl.data\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert violations(tmp_path) == [
        "coder_rl.data (core) imports coder_rl.rl.run (pipelines): upward",
        "coder_rl.rl.run imports coder_rl.verify: both in pipelines, which are independent",
    ]


def test_no_test_module_imports_another():
    """Shared test helpers live in tests/helpers.py (and fixtures in conftest.py)."""
    importing = [
        path.name
        for path in sorted((ROOT / "tests").glob("test_*.py"))
        if any(name.startswith("tests.test_") for name in _imports(ROOT, path))
    ]
    assert importing == []
