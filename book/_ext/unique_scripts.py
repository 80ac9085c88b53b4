"""A Sphinx extension of the book: each page loads each script once.

sphinx-thebe (pulled in by Jupyter Book) registers its inline configuration,
``const THEBE_JS_URL = ...``, twice under Sphinx 7.4, and the second
``const`` declaration is a JavaScript error in the reader's console on every
page. This drops repeated script entries from each page's context.
"""

from __future__ import annotations

from typing import Any


def _key(script: Any) -> tuple[str, str]:
    attributes = getattr(script, "attributes", {})
    # an inline script's file name is None or "", depending on who added it
    return str(getattr(script, "filename", script) or ""), repr(sorted(attributes.items()))


def drop_repeated_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any):
    """Keep the first of identical script entries (same file or inline body, same attributes)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        if _key(script) not in seen:
            seen.add(_key(script))
            unique.append(script)
    scripts[:] = unique  # in place: the theme's templates hold the same list


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
