"""The seam is real: the API, the server and the workers name only the interfaces of
:mod:`impasto.service.stores` — none of them imports a concrete store or dispatcher; those are built in
one place, :func:`impasto.service.backends.build`."""

from __future__ import annotations

import ast
from pathlib import Path

import impasto.service

SERVICE = Path(impasto.service.__file__).parent
CONCRETE = {"queue", "files", "dispatch", "recover"}  # the embedded backend's modules
INTERFACE_SIDE = ["app.py", "middleware.py", "worker.py", "server.py", "housekeeping.py", "routes/*.py"]


def service_modules(source: str, package: str) -> set[str]:
    """The first component below ``impasto.service`` of every module that ``source`` (a module of
    ``package``) imports, relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            names = (
                [".".join([*base, node.module])]
                if node.module
                else [".".join([*base, a.name]) for a in node.names]
            )
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[2] for n in names if n.startswith("impasto.service.")}
    return found


def test_the_interface_side_imports_no_concrete_backend():
    files = sorted(p for pattern in INTERFACE_SIDE for p in SERVICE.glob(pattern))
    assert len(files) >= 12
    for path in files:
        package = ".".join(["impasto", *path.relative_to(SERVICE.parent).parent.parts])
        modules = service_modules(path.read_text(encoding="utf-8"), package)
        assert not modules & CONCRETE, (str(path.relative_to(SERVICE)), sorted(modules & CONCRETE))


def test_the_check_sees_concrete_imports_of_every_form():
    pkg = "impasto.service.routes"
    assert service_modules("from ..queue import SQLiteJobStore", pkg) == {"queue"}
    assert service_modules("from .. import files", pkg) == {"files"}
    assert service_modules("import impasto.service.dispatch", pkg) == {"dispatch"}
    assert service_modules("from impasto.service.stores import JobStore", pkg) == {"stores"}
    assert service_modules("from .deps import ServiceDep", pkg) == {"routes"}
