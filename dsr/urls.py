from django.contrib import admin
from django.urls import path

from dsr.views import api, api_cases, openapi, reports, staff

urlpatterns = [
    path("", staff.home, name="home"),
    path("admin/", admin.site.urls),
    # platform API (issue 2 §5)
    path("api/v1/openapi.json", openapi.schema, name="api-openapi"),
    path("api/v1/subjects", api.subjects, name="api-subjects"),
    path("api/v1/subjects/lookup", api.subject_lookup, name="api-subject-lookup"),
    path("api/v1/subjects/<str:subject_id>", api.subject_detail, name="api-subject"),
    path("api/v1/subjects/<str:subject_id>/photos", api.upload_photo, name="api-subject-photos"),
    path("api/v1/subjects/<str:subject_id>/holdings", api.subject_holdings, name="api-subject-holdings"),
    path("api/v1/subjects/<str:subject_id>/processing", api.processing_check, name="api-processing-check"),
    path("api/v1/items", api.register_item, name="api-items"),
    path("api/v1/items/<str:item_id>", api.item_detail, name="api-item"),
    path("api/v1/items/<str:item_id>/content", api.item_content, name="api-item-content"),
    path("api/v1/items/<str:item_id>/derived", api.item_derived, name="api-item-derived"),
    path("api/v1/consents", api.consents, name="api-consents"),
    path("api/v1/consents/<str:consent_id>/withdraw", api.consent_withdraw, name="api-consent-withdraw"),
    path("api/v1/cases", api_cases.cases, name="api-cases"),
    path("api/v1/cases/<str:case_id>", api_cases.case_detail, name="api-case"),
    # operator console (issue 3 §5)
    path("staff/login/", staff.login_view, name="staff-login"),
    path("staff/logout/", staff.logout_view, name="staff-logout"),
    # reports (CCPA §7101 / §7102)
    path("staff/reports/", reports.reports_index, name="staff-reports"),
]
