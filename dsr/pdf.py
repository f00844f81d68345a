"""Print documents: ``render_pdf(template, context)`` with WeasyPrint and a local-only URL fetcher.

Templates under ``templates/pdf/`` carry their print CSS inline (A4, page numbers, type of 10pt or more)
and use no remote assets. The fetcher refuses every URL except ``data:`` URIs, so neither a template nor
content injected into one (a reason an operator typed, say) can make the server fetch an internal
address (SSRF) or read a local file such as ``file:///etc/passwd``. WeasyPrint logs the refusal as a
warning and renders without the resource.
"""

from __future__ import annotations

import logging
from typing import Any

from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = frozenset({"data"})


class RemoteFetchRefused(ValueError):
    """A document tried to load a resource that is not an inline ``data:`` URI."""


class LocalOnlyFetcher(URLFetcher):
    """Serves ``data:`` URIs and refuses everything else (http, https, ftp, file, …) before any I/O.

    ``refused`` lists the URLs that were asked for and refused, ``served`` the data: URIs, for tests.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=ALLOWED_SCHEMES, allow_redirects=False, timeout=1)
        self.refused: list[str] = []
        self.served: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
        if scheme not in ALLOWED_SCHEMES:
            self.refused.append(url)
            logger.warning("pdf: refused to fetch a %s URL", scheme or "relative")
            raise RemoteFetchRefused(f"remote and local resources are not fetched ({scheme or 'relative'} URL)")
        self.served.append(url[:40])
        return super().fetch(url, headers)


def render_pdf(template_name: str, context: dict[str, Any], *, fetcher: LocalOnlyFetcher | None = None) -> bytes:
    """Render a Django template to PDF bytes. Pass ``fetcher`` to inspect what was refused."""
    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=None, url_fetcher=fetcher or LocalOnlyFetcher()).write_pdf()
