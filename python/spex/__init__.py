"""spex: explain a model by the few interactions that drive it (Python
bindings over libspex; DESIGN.md §4.5).

    import numpy as np, spex
    f = lambda m: 2.0 * m[:, 0] - m[:, 1] + 3.0 * (m[:, 0] & m[:, 2])
    r = spex.explain(f, n=3, index="fsii", max_order=2)
    print(r)                  # the CLI's table
    r.to_shapiq()             # shapiq.InteractionValues (or its fields as a dict)
"""
from ._core import SHAPIQ_INDEX, Error, ValueFunctionError, index_c_name
from ._lib import path as library_path
from ._lib import version as _version
from .explain import Game, Lens, explain
from .model import Data, HeadsLens, Model, PromptLens
from .result import Result

__version__ = _version().decode()

__all__ = ["explain", "Result", "Game", "Model", "PromptLens", "HeadsLens", "Data", "Lens",
           "Error", "ValueFunctionError", "SHAPIQ_INDEX", "index_c_name", "library_path",
           "__version__"]
