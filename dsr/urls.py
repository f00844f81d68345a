from django.contrib import admin
from django.urls import path

from dsr.views import api, api_cases, jobs, openapi, reports, staff

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
    path("staff/", staff.queue, name="staff-queue"),
    path("staff/outbox/", staff.outbox, name="staff-outbox"),
    path("staff/cases/<uuid:case_id>/", staff.case_detail, name="staff-case"),
    path("staff/cases/<uuid:case_id>/assign", staff.case_assign, name="staff-case-assign"),
    path("staff/cases/<uuid:case_id>/request-verification", staff.case_request_verification,
         name="staff-case-request-verification"),
    path("staff/cases/<uuid:case_id>/verify", staff.case_verify, name="staff-case-verify"),
    path("staff/cases/<uuid:case_id>/acknowledge", staff.case_acknowledge, name="staff-case-acknowledge"),
    path("staff/cases/<uuid:case_id>/extend", staff.case_extend, name="staff-case-extend"),
    path("staff/cases/<uuid:case_id>/pause", staff.case_pause, name="staff-case-pause"),
    path("staff/cases/<uuid:case_id>/resume", staff.case_resume, name="staff-case-resume"),
    path("staff/cases/<uuid:case_id>/relevant-time", staff.case_relevant_time, name="staff-case-relevant-time"),
    path("staff/cases/<uuid:case_id>/unfounded", staff.case_unfounded, name="staff-case-unfounded"),
    path("staff/cases/<uuid:case_id>/refuse", staff.case_refuse, name="staff-case-refuse"),
    path("staff/cases/<uuid:case_id>/complete", staff.case_complete, name="staff-case-complete"),
    path("staff/cases/<uuid:case_id>/cancel", staff.case_cancel, name="staff-case-cancel"),
    path("staff/cases/<uuid:case_id>/forced-erasure/request", staff.case_request_forced_erasure,
         name="staff-case-request-forced-erasure"),
    path("staff/cases/<uuid:case_id>/forced-erasure/approve", staff.case_approve_forced_erasure,
         name="staff-case-approve-forced-erasure"),
    # durable jobs (dsr/steps.py)
    path("staff/jobs/", jobs.job_list, name="staff-jobs"),
    path("staff/jobs/<uuid:run_id>/", jobs.job_detail, name="staff-job"),
    path("staff/jobs/<uuid:run_id>/steps/<int:step_id>/retry", jobs.job_step_retry, name="staff-job-step-retry"),
    path("staff/jobs/<uuid:run_id>/steps/<int:step_id>/resolve", jobs.job_step_resolve, name="staff-job-step-resolve"),
    # reports (CCPA §7101 / §7102)
    path("staff/reports/", reports.reports_index, name="staff-reports"),
    path("staff/reports/ccpa-log.csv", reports.ccpa_log_csv, name="staff-reports-ccpa-log"),
    path("staff/reports/ccpa-metrics/", reports.ccpa_metrics_page, name="staff-reports-ccpa-metrics"),
    path("staff/reports/ccpa-metrics.csv", reports.ccpa_metrics_csv, name="staff-reports-ccpa-metrics-csv"),
    path("staff/reports/ccpa-metrics.pdf", reports.ccpa_metrics_pdf, name="staff-reports-ccpa-metrics-pdf"),
]
