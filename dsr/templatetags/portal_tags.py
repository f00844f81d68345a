"""Rendering helpers for the portal's forms: every input tied to its hint and its error (WCAG 1.3.1, 3.3.1)."""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def described(field: BoundField) -> SafeString:
    """The widget with aria-describedby naming its hint and error, and aria-invalid when it has an error."""
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}-hint")
    attrs: dict[str, str] = {}
    if field.errors:
        ids.append(f"{field.auto_id}-error")
        attrs["aria-invalid"] = "true"
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    return field.as_widget(attrs=attrs)


@register.filter
def in_words(value):  # noqa: ANN001, ANN201 - a date or datetime
    """'Monday 6 April 2026' / 'Montag, 6. April 2026': a date as people write it, in the page's language."""
    from django.utils import dateformat, translation

    if not value:
        return ""
    fmt = "l, j. F Y" if (translation.get_language() or "en").startswith("de") else "l j F Y"
    return dateformat.format(value, fmt)


@register.filter
def short_date(value):  # noqa: ANN001, ANN201 - a date or datetime
    """'30 Nov 2026' / '30. Nov. 2026'."""
    from django.utils import dateformat, translation

    if not value:
        return ""
    fmt = "j. M Y" if (translation.get_language() or "en").startswith("de") else "j M Y"
    return dateformat.format(value, fmt)
