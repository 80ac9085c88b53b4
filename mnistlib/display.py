"""Show the library's real source on the page, so the reader reads what runs."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["show_source"]


def show_source(*objects: Any) -> Any:
    """Display the source of functions or classes as a highlighted Python block.

    The block is Markdown, so Jupyter and the book both render it with the
    theme's code highlighting (light and dark).
    """
    from IPython.display import Markdown, display

    code = "\n\n".join(inspect.getsource(obj).rstrip() for obj in objects)
    display(Markdown(f"```python\n{code}\n```"))
