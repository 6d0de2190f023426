from django.urls import include, path, re_path

from relais.api.docs import docs_page
from relais.api.v1 import api, not_found_view, problem_urls

api_patterns, api_app_name, api_namespace = api.urls

urlpatterns = [
    path("docs", docs_page, name="api_docs"),
    path("", include((problem_urls(api_patterns), api_app_name), namespace=api_namespace)),
    # [\s\S]: "." would not match a newline, leaving such paths to the HTML 404 page.
    re_path(r"^(?P<path>[\s\S]*)$", not_found_view),
]
