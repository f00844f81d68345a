"""The public portal (issue 11): file a request at ``/`` without an account, prove it is yours, follow it.

Views parse, call one function of dsr/portal.py and render. Pages work without JavaScript, in English and
German, and are never cached (``Cache-Control: no-store``). What a page says before verification never depends on
whether dsr knows the address given: the work that does depend on it runs in a job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from dsr import portal, ratelimit, workflow
from dsr.forms import CodeForm, FilingForm, ReplyForm, SigninForm
from dsr.models import Case

LANG_COOKIE = "dsr_lang"
SESSION_FILING = "portal_filing"
SESSION_LOGIN = "portal_login"


# --- plumbing ----------------------------------------------------------------------------------------------


def _language(request: HttpRequest) -> str:
    supported = {code for code, _name in settings.LANGUAGES}
    chosen = request.COOKIES.get(LANG_COOKIE, "")
    if chosen in supported:
        return chosen
    return translation.get_language_from_request(request) if translation.get_language_from_request(
        request) in supported else settings.LANGUAGE_CODE


def portal_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Language (a choice made with ?lang=, else the browser's), the clock read at the edge, the GPC signal, and
    the headers every portal page carries."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wanted = request.GET.get("lang", "")
        if request.method == "GET" and wanted in {code for code, _n in settings.LANGUAGES}:
            # A language link: remember the choice and come back without the parameter (post/redirect/get).
            target = request.path
            response = HttpResponseRedirect(target)
            response.set_cookie(LANG_COOKIE, wanted, max_age=365 * 24 * 3600, samesite="Lax",
                                secure=settings.SESSION_COOKIE_SECURE, httponly=True)
            response.headers["Cache-Control"] = "no-store"
            return response
        language = _language(request)
        request.now = timezone.now()
        request.gpc = request.headers.get("Sec-GPC", "").strip() == "1"
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and callable(response.render) and not response.is_rendered:
                response.render()
        response.headers["Content-Language"] = language
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers["Vary"] = "Accept-Language, Cookie"
        return response

    return wrapper


def _page(request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
          ) -> HttpResponse:
    ctx = {"gpc": request.gpc, "language": request.LANGUAGE_CODE, "languages": settings.LANGUAGES,
           "controller_name": settings.DSR_CONTROLLER_NAME, "controller_contact": settings.DSR_CONTROLLER_CONTACT,
           "dpo_contact": settings.DSR_DPO_CONTACT, "signed_in": _login(request) is not None, **(context or {})}
    return render(request, template, ctx, status=status)


def _limited(request: HttpRequest, exc: ratelimit.RateLimited) -> HttpResponse:
    response = _page(request, "portal/limited.html", {"minutes": max(1, exc.retry_after // 60)}, status=429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _hit(request: HttpRequest, name: str, value: str | None = None) -> None:
    ratelimit.hit(name, value if value is not None else ratelimit.client_ip(request), now=request.now)


def _login(request: HttpRequest) -> portal.Login | None:
    """The verified person of this browser, while the sign-in is fresh (DSR_PORTAL_SESSION_MINUTES)."""
    raw = request.session.get(SESSION_LOGIN)
    if not isinstance(raw, dict):
        return None
    try:
        at = datetime.fromisoformat(raw["at"])
        login = portal.Login(str(raw["subject"]), str(raw["method"]))
    except (KeyError, TypeError, ValueError):
        return None
    if timezone.now() - at > timedelta(minutes=settings.DSR_PORTAL_SESSION_MINUTES):
        return None
    return login


def _sign_in(request: HttpRequest, login: portal.Login) -> None:
    # A new session key at every sign-in (no fixation); only ids and the method are kept in the session.
    request.session.cycle_key()
    request.session[SESSION_LOGIN] = {"subject": login.subject_id, "method": login.method,
                                      "at": request.now.isoformat()}


# --- filing ----------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_view
def home(request: HttpRequest) -> HttpResponse:
    """The form. A valid filing is stored and its id enqueued; the browser goes on to the code page."""
    if request.method == "POST":
        try:
            _hit(request, "file_ip")
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        form = FilingForm(request.POST, request.FILES, language=request.LANGUAGE_CODE, gpc=request.gpc)
        if form.is_valid() and form.submission is not None:
            try:
                _hit(request, "file_id", form.submission.email)
                filing, _created = portal.receive(form.submission, now=request.now)
            except ratelimit.RateLimited as exc:
                return _limited(request, exc)
            except portal.PortalError as exc:
                form.add_error(exc.field, exc.message)
            else:
                request.session[SESSION_FILING] = str(filing.pk)
                return HttpResponseRedirect(reverse("portal-confirm"), status=303)
    else:
        form = FilingForm(language=request.LANGUAGE_CODE, gpc=request.gpc)
    return _page(request, "portal/home.html", {"form": form, "choices": portal.CHOICES, "purposes": form.purposes},
                 status=400 if form.is_bound else 200)


# The form carries an agent's mandate (DSR_PORTAL_MANDATE_MAX_BYTES) besides small fields (dsr/bodylimit.py).
home.max_body_bytes = lambda: settings.DSR_PORTAL_MANDATE_MAX_BYTES + 1024 * 1024  # type: ignore[attr-defined]


@require_http_methods(["GET", "POST"])
@portal_view
def confirm(request: HttpRequest) -> HttpResponse:
    """'We sent you a code': the same page whoever the address belongs to, and whether or not mail went out."""
    error = ""
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        try:
            _hit(request, "verify_ip")
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        if form.is_valid():
            try:
                login = portal.check_code(request.session.get(SESSION_FILING), form.cleaned_data["code"],
                                          now=request.now)
            except portal.Refused as exc:
                error = {"locked": _("Too many wrong codes: this code no longer works. Ask for a new one below."),
                         "expired": _("This code has expired. Ask for a new one below."),
                         "used": _("This code was already used. Ask for a new one below."),
                         }.get(exc.reason, _("That code is not right. Check the e-mail and try again."))
                form.add_error("code", error)
            else:
                _sign_in(request, login)
                return HttpResponseRedirect(reverse("portal-status"), status=303)
    return _page(request, "portal/confirm.html", {"form": form, "resent": request.GET.get("resent") == "1",
                                                  "minutes": settings.DSR_PORTAL_CODE_MINUTES},
                 status=400 if form.errors else 200)


@require_POST
@portal_view
def resend(request: HttpRequest) -> HttpResponse:
    filing_id = request.session.get(SESSION_FILING)
    try:
        _hit(request, "resend_ip")
        if filing_id:
            _hit(request, "resend_id", str(filing_id))
    except ratelimit.RateLimited as exc:
        return _limited(request, exc)
    if filing_id:
        portal._enqueue("dsr.jobs.resend_portal_code", str(filing_id))
    return HttpResponseRedirect(reverse("portal-confirm") + "?resent=1", status=303)


# --- links: from an e-mail, and the platform's hand-off -----------------------------------------------------------


def _link_page(request: HttpRequest, token: str, *, handoff: bool) -> HttpResponse:
    """GET shows a 'continue' button (mail scanners that open links must not use them up); POST uses the link.
    The token is in the path only until then: the next page is the status page, without it."""
    try:
        _hit(request, "link_ip")
    except ratelimit.RateLimited as exc:
        return _limited(request, exc)
    wanted = "handoff" if handoff else None
    if request.method == "POST":
        kind = portal.peek_link(token, now=request.now)
        if kind is None or (kind == "handoff") != handoff:
            return _page(request, "portal/link_dead.html", status=410)
        try:
            login = portal.use_link(token, now=request.now)
        except portal.Refused:
            return _page(request, "portal/link_dead.html", status=410)
        _sign_in(request, login)
        return HttpResponseRedirect(reverse("portal-status"), status=303)
    kind = portal.peek_link(token, now=request.now)
    if kind is None or (kind == "handoff") != (wanted == "handoff"):
        return _page(request, "portal/link_dead.html", status=410)
    return _page(request, "portal/link.html", {"handoff": handoff})


@require_http_methods(["GET", "POST"])
@portal_view
def link(request: HttpRequest, token: str) -> HttpResponse:
    return _link_page(request, token, handoff=False)


@require_http_methods(["GET", "POST"])
@portal_view
def handoff(request: HttpRequest, token: str) -> HttpResponse:
    return _link_page(request, token, handoff=True)


# --- following a request ------------------------------------------------------------------------------------------


def _case_context(case: Case, login: portal.Login) -> dict[str, Any]:
    from dsr.views import portal_actions

    route = portal.verification_route(case, None)
    return {
        "case": case,
        "name": portal.request_name(case.kind),
        "state_words": portal.STATE_WORDS.get(case.state, case.state),
        "dates": portal.due_dates_in_words(case),
        "history": portal.history(case),
        "thread": list(case.thread.order_by("created_at", "id")),
        "route": route,
        "needs_account": route == "account" and case.is_open and not case.verified_at,
        "can_confirm": route == "account" and case.is_open and not case.verified_at and login.method == "account",
        "operator_review": route == "operator" and case.is_open and not case.verified_at,
        "can_withdraw": case.state in ("received", "awaiting_verification"),
        "agent": case.agent_name,
        "depicted": case.intake == portal.DEPICTED_INTAKE,
        **portal_actions.extras(case, login, now=timezone.now()),
    }


@require_http_methods(["GET"])
@portal_view
def status(request: HttpRequest) -> HttpResponse:
    login = _login(request)
    if login is None:
        return _page(request, "portal/signin.html", {"form": SigninForm(), "sent": request.GET.get("sent") == "1"})
    if request.gpc:
        from dsr.models import Subject

        subject = Subject.objects.filter(pk=login.subject_id).first()
        if subject is not None:
            portal.record_gpc(subject, now=request.now)
    cases = [_case_context(c, login) for c in portal.subject_cases(login.subject_id)]
    return _page(request, "portal/status.html", {"cases": cases, "login": login,
                                                 "done": request.GET.get("done", "")})


@require_POST
@portal_view
def signin(request: HttpRequest) -> HttpResponse:
    form = SigninForm(request.POST)
    try:
        _hit(request, "resend_ip")
        if form.is_valid():
            _hit(request, "resend_id", form.cleaned_data["email"])
    except ratelimit.RateLimited as exc:
        return _limited(request, exc)
    if not form.is_valid():
        return _page(request, "portal/signin.html", {"form": form}, status=400)
    portal.ask_for_signin(form.cleaned_data["email"], language=request.LANGUAGE_CODE, now=request.now)
    return HttpResponseRedirect(reverse("portal-status") + "?sent=1", status=303)


@require_POST
@portal_view
def signout(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_LOGIN, None)
    request.session.pop(SESSION_FILING, None)
    request.session.cycle_key()
    return HttpResponseRedirect(reverse("portal-home"), status=303)


def case_action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST on one of the signed-in person's cases; any other case, or no sign-in, is 'not found'."""

    @require_POST
    @portal_view
    @wraps(view)
    def wrapper(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
        login = _login(request)
        if login is None:
            raise Http404
        try:
            _hit(request, "action_ip")
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        case = portal.case_of(login.subject_id, case_id)
        if case is None:
            raise Http404
        return view(request, case, login)

    return wrapper


def _back(done: str, case: Case) -> HttpResponse:
    return HttpResponseRedirect(f"{reverse('portal-status')}?done={done}#case-{case.pk}", status=303)


def _problem(request: HttpRequest, message: str) -> HttpResponse:
    return _page(request, "portal/problem.html", {"message": message}, status=409)


@case_action
def case_confirm(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    try:
        portal.confirm_by_account(case, login, now=request.now)
    except (portal.PortalError, workflow.WorkflowError) as exc:
        return _problem(request, getattr(exc, "message", str(exc)))
    return _back("confirmed", case)


@case_action
def case_withdraw(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    try:
        portal.withdraw(case, now=request.now)
    except (portal.PortalError, workflow.WorkflowError) as exc:
        return _problem(request, getattr(exc, "message", str(exc)))
    return _back("withdrawn", case)


@case_action
def case_reply(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _problem(request, _("Write a message first."))
    try:
        portal.post_message(case, body=form.cleaned_data["body"], from_subject=True, actor=portal.ACTOR,
                            now=request.now)
    except portal.PortalError as exc:
        return _problem(request, exc.message)
    return _back("replied", case)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its security token (an old page, cookies off): say so plainly, in the portal's look."""
    with translation.override(_language(request)):
        request.LANGUAGE_CODE = translation.get_language()
        request.gpc = False
        response = render(request, "portal/csrf.html", {"languages": settings.LANGUAGES,
                                                        "language": request.LANGUAGE_CODE,
                                                        "controller_name": settings.DSR_CONTROLLER_NAME}, status=403)
    response.headers["Cache-Control"] = "no-store"
    return response


@case_action
def case_cancel_erasure(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    from dsr.views import portal_actions

    return portal_actions.cancel_erasure(request, case, login)


@case_action
def case_download(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    from dsr.views import portal_actions

    return portal_actions.download(request, case, login)
