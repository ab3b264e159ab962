"""The package's layers: no module imports one above it.

The order is written once, in the docstring of ``src/cream/__init__.py`` ("Layers, bottom to top: errors <
config < engine < space, data < settings_from_data < nas, train < analysis < report < official < assemble <
api < cli"); this test reads it there. A module's layer is its package under ``cream`` (``cream.nas.trainer``
is in ``nas``) or, for a top-level module, the module itself. A module may import its own package and the
layers below its own; siblings (names on one layer, like nas and train) do not import each other. Every
``import`` and ``from ... import`` counts, also those inside functions; only ``cream/__init__.py`` may import
upward (it is the package's front door).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cream

SRC = Path(cream.__file__).parent


def documented_layers(docstring: str) -> dict[str, int]:
    """``{"errors": 0, "config": 1, ..., "cli": N}`` from the "Layers, bottom to top: a < b, c < ..." line."""
    found = re.search(r"Layers, bottom to top:(.*?)\.\s", docstring, re.S)
    assert found, "cream/__init__.py's docstring lost its 'Layers, bottom to top: ...' line"
    floors = enumerate(found.group(1).split("<"))
    named = [(name.strip(), floor) for floor, names in floors for name in names.split(",")]
    assert len(dict(named)) == len(named), f"a layer is named twice in {found.group(1)!r}"
    return dict(named)


def imported_modules(path: Path, root: Path = SRC.parent) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in ``path``, a file under ``root`` (the folder holding ``cream/``);
    ``from cream import api`` imports ``cream.api``."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                where = root / submodule.replace(".", "/")
                found.append((node.lineno, submodule if where.with_suffix(".py").is_file() or where.is_dir() else base))
    return found


def layer_of(module: str) -> str:
    """``cream.nas.trainer`` -> ``nas``; ``cream.cli`` -> ``cli``; ``cream`` -> ``cream`` (the front door)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cream"


def upward_imports(src: Path, floors: dict[str, int]) -> list[str]:
    """Every import in the package ``src`` that goes up or sideways, as ``file:line: a -> b``."""
    bad = []
    for path in sorted(src.rglob("*.py")):
        if path == src / "__init__.py":
            continue
        own = layer_of(".".join(path.relative_to(src.parent).with_suffix("").parts))
        assert own in floors, f"{path} is in no layer; add {own!r} to the order in cream/__init__.py's docstring"
        for line, module in imported_modules(path, src.parent):
            if module.split(".")[0] != "cream":
                continue
            target = layer_of(module)
            if target != own and (target not in floors or floors[target] >= floors[own]):
                bad.append(f"{path.relative_to(src.parent)}:{line}: {own} -> {target} ({module})")
    return bad


def test_no_module_imports_a_layer_above_its_own_or_a_sibling():
    assert upward_imports(SRC, documented_layers(cream.__doc__)) == []


def test_an_upward_import_anywhere_in_a_module_is_found(tmp_path):
    # A copy of two layers, with an import inside a function going up (space -> nas), one going sideways
    # (nas -> train), and a harmless one down (nas -> space).
    floors = documented_layers(cream.__doc__)
    (tmp_path / "cream" / "space").mkdir(parents=True)
    (tmp_path / "cream" / "nas").mkdir()
    (tmp_path / "cream" / "train").mkdir()
    (tmp_path / "cream" / "__init__.py").write_text("from cream.cli import main\n")  # the front door may
    (tmp_path / "cream" / "space" / "arch.py").write_text("def f():\n    from cream.nas import trainer\n")
    (tmp_path / "cream" / "nas" / "trainer.py").write_text(
        "import cream.space.arch\nfrom cream.space import arch\nfrom cream import train\n")
    assert upward_imports(tmp_path / "cream", floors) == ["cream/nas/trainer.py:3: nas -> train (cream.train)",
                     "cream/space/arch.py:2: space -> nas (cream.nas.trainer)"]


def test_the_documented_order_names_every_layer_once_with_cli_on_top():
    floors = documented_layers(cream.__doc__)
    rooms = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert rooms <= set(floors), f"not in the order: {sorted(rooms - set(floors))}"
    assert max(floors, key=floors.get) == "cli" and floors["errors"] == 0
    assert floors["nas"] == floors["train"]


def test_the_command_line_imports_only_the_api_and_the_errors():
    assert {m for _, m in imported_modules(SRC / "cli.py") if m.split(".")[0] == "cream"} == {"cream.api",
                                                                                              "cream.errors"}
