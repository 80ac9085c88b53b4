"""Measure trained models and put the results side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from mnistlib.training import TrainedModel

__all__ = ["comparison_table"]


def comparison_table(models: Mapping[str, TrainedModel]) -> pd.DataFrame:
    """One row per model: test accuracy and error (%), weights, epochs, training time.

    The numbers are those recorded when each model was trained and tested;
    "best epoch" is the one whose weights the model kept, and the time is
    that of the whole run on the machine that trained it.
    """
    import pandas as pd

    rows = []
    for name, trained in models.items():
        meta = trained.metadata
        rows.append(
            {
                "model": name,
                "test accuracy (%)": round(100 * meta["test_accuracy"], 2),
                "test error (%)": round(100 * (1 - meta["test_accuracy"]), 2),
                "weights": meta["parameters"],
                "epochs": meta["config"]["epochs"],
                "best epoch": meta["best_epoch"],
                "training time": f"{meta['train_seconds']:.1f} s",
            }
        )
    return pd.DataFrame(rows).set_index("model")
