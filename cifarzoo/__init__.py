"""cifarzoo: a CIFAR-10/100 model zoo."""
__version__ = "0.1.0"

from cifarzoo.registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model", "__version__"]
