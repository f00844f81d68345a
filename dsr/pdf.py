"""Print documents: ``render_pdf(template, context)`` with WeasyPrint and a local-only URL fetcher
(``dsr/pdf_engine.py``), in this process or, with ``render_pdf_isolated``, in a short-lived child process.

Templates under ``templates/pdf/`` carry their print CSS inline (A4, page numbers, type of 10pt or more)
and use no remote assets. The fetcher refuses every URL except ``data:`` URIs, so neither a template nor
content injected into one (a reason an operator typed, say) can make the server fetch an internal
address (SSRF) or read a local file such as ``file:///etc/passwd``. WeasyPrint logs the refusal as a
warning and renders without the resource.

WeasyPrint is imported only when a PDF is rendered in this process: a worker that only builds packages never
carries it (``render_pdf_isolated``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string

if TYPE_CHECKING:
    from dsr.pdf_engine import LocalOnlyFetcher

ISOLATED_TIMEOUT_SECONDS = 300


class PdfRenderFailed(RuntimeError):
    """The child renderer failed or timed out (the message holds no document content)."""


def __getattr__(name: str) -> Any:
    # ``from dsr.pdf import LocalOnlyFetcher`` keeps working without importing WeasyPrint with this module.
    if name in {"LocalOnlyFetcher", "RemoteFetchRefused", "ALLOWED_SCHEMES"}:
        from dsr import pdf_engine

        return getattr(pdf_engine, name)
    raise AttributeError(name)


def render_pdf(template_name: str, context: dict[str, Any], *, fetcher: LocalOnlyFetcher | None = None) -> bytes:
    """Render a Django template to PDF bytes in this process. Pass ``fetcher`` to inspect what was refused."""
    from dsr.pdf_engine import html_to_pdf

    return html_to_pdf(render_to_string(template_name, context), fetcher=fetcher)


def render_pdf_isolated(template_name: str, context: dict[str, Any], *,
                        timeout: float = ISOLATED_TIMEOUT_SECONDS) -> bytes:
    """The same PDF, laid out by WeasyPrint in a child process (``python -m dsr.pdf_engine``): the template is
    rendered here (Django, translations), the HTML goes to the child on stdin and the PDF comes back on stdout.
    Blocks this thread only; the caller's other threads run on, since the child holds none of this process's
    GIL. Raises PdfRenderFailed on a failure or after ``timeout`` seconds (the child is killed)."""
    html = render_to_string(template_name, context).encode("utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DSR_", "DATABASE_"))}
    try:
        done = subprocess.run([sys.executable, "-m", "dsr.pdf_engine"], input=html, capture_output=True,
                              timeout=timeout, check=False, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    except subprocess.TimeoutExpired as exc:
        raise PdfRenderFailed(f"the PDF renderer did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0 or not done.stdout.startswith(b"%PDF-"):
        why = done.stderr.decode("ascii", "replace").strip().splitlines()[-1:] or ["no output"]
        raise PdfRenderFailed(f"the PDF renderer failed (exit {done.returncode}: {why[0][:80]})")
    return done.stdout
