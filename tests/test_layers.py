"""The house of DESIGN.md holds: each part imports only parts on lower floors, so no two
parts import each other round a loop (each pack counts as a part of its own)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "wfrun"

#: Floors from the ground up (DESIGN.md, "The house and its data path").
FLOORS = [
    {"cache_dir"},
    {"diagnostics", "atomic", "lean_imports", "long_lived"},
    {"formats", "media"},
    {"specs", "models"},
    {"graph", "sampling", "nodes"},
    {"packs", "migrate"},
    {"engine"},
    {"jobs"},
    {"cli"},
]
FLOOR = {part: i for i, parts in enumerate(FLOORS) for part in parts}


def part_of(module: str) -> str:
    """``wfrun.packs.wanvideo.vae`` → ``packs.wanvideo``; ``wfrun.graph.build`` → ``graph``."""
    names = module.split(".")[1:]
    if not names:
        return "wfrun"
    if names[0] == "packs" and len(names) > 1:
        return f"packs.{names[1]}"
    return names[0]


def floor_of(part: str) -> int:
    return FLOOR[part.split(".")[0]]


def imports() -> list[tuple[str, str, str]]:
    """(file, importing part, imported part) for every import of another wfrun part."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        here = part_of(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] if node.module != "wfrun" else [f"wfrun.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("wfrun.") and part_of(target) not in (here, "wfrun"):
                    found.append((str(path.relative_to(PACKAGE.parent)), here, part_of(target)))
    return found


def test_every_part_is_on_a_floor():
    parts = {part_of(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"))
             for p in PACKAGE.rglob("*.py")}
    unplaced = sorted(p for p in parts - {"wfrun", "__main__"} if p.split(".")[0] not in FLOOR)
    assert not unplaced, f"parts not placed on a floor of DESIGN.md: {unplaced}"


def test_parts_import_only_lower_floors():
    wrong = sorted({f"{file}: {here} (floor {floor_of(here)}) imports {there} (floor {floor_of(there)})"
                    for file, here, there in imports()
                    if here.split(".")[0] in FLOOR and there.split(".")[0] in FLOOR
                    and floor_of(there) >= floor_of(here)})
    assert not wrong, "\n".join(wrong)
