"""Model families.  Each module in this package defines one family and registers its factories
with ``@register_model``; importing the package imports every module, so adding an
architecture is adding a file."""
import importlib
import pkgutil

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_") and _m.name != "layers":
        importlib.import_module(f"{__name__}.{_m.name}")
del _m
