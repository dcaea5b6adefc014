"""Expected parameter counts at num_classes=10, one module per group of families.

Each module defines ``PARAMS = {name: (count, "source of the number")}``.  The source is the
document or paper the count is checked against (a document's exact printed count where it has
one, else the paper or a published CIFAR zoo); counts that only this project defines say so.
"""
import importlib
import pkgutil


def all_params() -> dict[str, tuple[int, str]]:
    table: dict[str, tuple[int, str]] = {}
    for m in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{m.name}")
        for name, value in mod.PARAMS.items():
            assert name not in table, f"{name} appears in two parameter tables"
            table[name] = value
    return table
