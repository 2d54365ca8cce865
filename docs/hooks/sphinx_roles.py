"""MkDocs hook: the docstrings' Sphinx roles render as plain code on the API pages.

mkdocstrings renders Google-style docstrings as Markdown, where ``:class:`X``` is left as the
literal text ``:class:`` before the code span ``X``; this drops the role, and ``~a.b.C`` shows as
``C`` (Sphinx's meaning of the tilde).
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~[\w.]*\.)?")


def on_page_content(html: str, **kwargs) -> str:
    return ROLE.sub("<code>", html)
