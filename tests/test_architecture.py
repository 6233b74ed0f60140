"""The project's boundaries, checked on its source: who may import whom, and how.

* ``engines/`` depends on ``streamfx``, never the reverse at import time (engines are
  reached through their registry, ``engines.create_engine``);
* no module imports another module's private (``_underscored``) name;
* no import cycles, counting imports inside functions too;
* the generator names landmarks (streamfx/landmarks.py), it does not number them.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("streamfx", "engines", "obs_bridge")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            mods[name] = p
    return mods


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import in a file, at any depth."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
    return out


def test_the_library_imports_no_engine() -> None:
    code = ("import sys, streamfx.generator, streamfx.settings, streamfx.options, streamfx.animator, "
            "streamfx.render, streamfx.cli; print('engines' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_help_loads_no_heavy_library() -> None:
    """``streamfx --help`` (and a bad argument) builds every subcommand's parser: none of them
    may import the tracker, the WebRTC stack, the evaluation's SciPy or a plotting/ML library
    (``--help`` took 2.3 s when the eval options came with the evaluation module), nor the
    generator's layers or the engines' base (0.2 s more, through the live-settings keys and
    the engines package)."""
    code = ("import sys\n"
            "sys.argv = ['streamfx', '--help']\n"
            "from streamfx.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = {'mediapipe', 'scipy', 'torch', 'aiortc', 'onnx', 'onnxruntime', 'matplotlib', 'skimage', 'av'}\n"
            "ours = {'streamfx.generator.layers', 'streamfx.generator.stack', 'engines.base'}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)\n"
            "print(sorted(set(sys.modules) & ours), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stderr.strip().splitlines()[-2:] == ["[]", "[]"], out.stderr


def test_no_private_name_is_imported_from_another_module() -> None:
    bad = [f"{path.relative_to(ROOT)}: from {module} import {name}"
           for path in _modules().values() for module, names in _imports(path)
           for name in names if name.startswith("_") and not name.startswith("__")]
    assert not bad, bad


def test_no_import_cycles() -> None:
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for module, names in _imports(path):
            for target in (module, *(f"{module}.{n}" for n in names)):
                if target in mods and target != m:
                    edges[m].add(target)
    # a cycle is an edge a → b where b reaches a
    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            v = todo.pop()
            if v == goal:
                return True
            if v not in seen:
                seen.add(v)
                todo += edges[v]
        return False

    cycles = sorted(f"{a} ↔ {b}" for a in mods for b in edges[a] if reaches(b, a))
    assert not cycles, cycles


def test_the_generator_names_its_landmarks() -> None:
    # lm[78, :2], target[[33, 133]], tgt[:, 159]: a landmark by number
    numbered = re.compile(r"\[\s*\d+\s*,\s*:|\[\s*\[\s*\d+|\[\s*:\s*,\s*\d{2,}|\b(lm|landmarks|target)\[\s*\d{2,}")
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
             for p in [*(ROOT / "streamfx" / "generator").rglob("*.py"), *(ROOT / "engines").rglob("*.py")]
             for i, line in enumerate(p.read_text().splitlines(), 1) if numbered.search(line)]
    assert not found, found
