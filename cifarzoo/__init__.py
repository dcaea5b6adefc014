"""cifarzoo: a CIFAR-10/100 model zoo."""
__version__ = "0.1.0"

from cifarzoo.registry import ModelInfo, create_model, list_models, model_info, register_model
# The functions shadow their modules' names on the package (cifarzoo.evaluate is the function);
# import from the modules (``from cifarzoo.evaluate import ...``) to reach anything else in them.
from cifarzoo.pretrained import load_manifest
from cifarzoo.evaluate import evaluate
from cifarzoo.verify import verify

__all__ = ["ModelInfo", "create_model", "evaluate", "list_models", "load_manifest", "model_info", "register_model",
           "verify", "__version__"]
