from django.urls import path
from django.views.generic import RedirectView

from relais.patient_access import views

app_name = "patient_access"

# The patient's pages, all under /r/ (see middleware.PATIENT_PREFIX). The pharmacist's
# side is in pharmacy_urls.py.

urlpatterns = [
    path("r/result/", views.result_page, name="result"),
    path("r/result/pdf", views.result_pdf_download, name="result_pdf"),
    path("r/close/", views.close, name="close"),
    path("r/language/", views.language, name="language"),
    path("r/open/", views.link_page, name="open"),
    # A printed slip's short code, typed with the date of birth (posted, never in a URL).
    path("r/code/", views.code_page, name="code"),
    path("r/code", RedirectView.as_view(pattern_name="patient_access:code"), name="code_short"),
    # The link sent to the patient; it only hands its token over to /r/open/.
    path("r/<str:token>", views.follow_link, name="link"),
]
