from django.urls import path

from relais.accounts import views, views_account, views_onboarding, views_psc, views_staff

app_name = "accounts"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("activate/", views_onboarding.activate, name="activate"),
    path("enrol/", views_account.enrol, name="enrol"),
    path("password-reset/", views_onboarding.password_reset, name="password_reset"),
    path("password-reset/sent/", views_onboarding.password_reset_sent, name="reset_sent"),
    path("password-reset/new/", views_onboarding.password_reset_confirm, name="reset"),
    path("pharmacy/", views_account.choose_pharmacy, name="choose_pharmacy"),
    path("prove/", views_account.prove, name="prove"),
    path(
        "invitations/<uuid:invitation_id>/",
        views_account.answer_invitation,
        name="answer_invitation",
    ),
    path("psc/start/", views_psc.start, name="psc_start"),
    path("psc/callback/", views_psc.callback, name="psc_callback"),
    path("account/", views_psc.account, name="account"),
    path("staff/", views_staff.staff, name="staff"),
    path("staff/<uuid:membership_id>/remove/", views_staff.staff_remove, name="staff_remove"),
    path("staff/<uuid:membership_id>/role/", views_staff.staff_role, name="staff_role"),
    path(
        "staff/<uuid:membership_id>/second-factor/",
        views_staff.staff_second_factor,
        name="staff_second_factor",
    ),
    path(
        "staff/invitations/<uuid:invitation_id>/cancel/",
        views_staff.invitation_cancel,
        name="invitation_cancel",
    ),
]
