"""WeasyPrint behind a local-only URL fetcher, with no Django: what ``dsr/pdf.py`` calls in-process and what
``python -m dsr.pdf_engine`` runs in a short-lived child process (``dsr.pdf.render_pdf_isolated``).

Why a child process at all: WeasyPrint costs a Python process about 26 MiB once imported and more while it lays
out a document, and neither is given back. A package build (dsr/exports.py) runs in a long-lived worker while
it streams gigabytes; rendering its report in a child keeps that worker's memory flat and keeps WeasyPrint's
pure-Python layout off the GIL the streaming threads share (bench/export.py).

The child's protocol is deliberately small: the HTML arrives on stdin (never in argv, which other local users
can read in /proc), the PDF leaves on stdout, and stderr carries only the count of refused URLs and, on failure,
the exception's class name — never document content, which holds personal data.
"""

from __future__ import annotations

import logging
import sys

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


def html_to_pdf(html: str, *, fetcher: LocalOnlyFetcher | None = None) -> bytes:
    return HTML(string=html, base_url=None, url_fetcher=fetcher or LocalOnlyFetcher()).write_pdf()


def main() -> int:
    # WeasyPrint's own warnings can quote the document (a CSS value, a URL): keep them out of stderr.
    logging.disable(logging.CRITICAL)
    html = sys.stdin.buffer.read().decode("utf-8")
    fetcher = LocalOnlyFetcher()
    try:
        pdf = html_to_pdf(html, fetcher=fetcher)
    except Exception as exc:  # noqa: BLE001 - reported by class name only (see the module docstring)
        sys.stderr.write(f"error {type(exc).__name__}\n")
        return 1
    sys.stdout.buffer.write(pdf)
    sys.stdout.buffer.flush()
    sys.stderr.write(f"refused {len(fetcher.refused)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
