from django.contrib.auth.hashers import make_password
from django.test import override_settings

from relais import settings as production_settings


def test_passwords_are_hashed_with_argon2id():
    assert production_settings.PASSWORD_HASHERS == [
        "django.contrib.auth.hashers.Argon2PasswordHasher"
    ]
    with override_settings(PASSWORD_HASHERS=production_settings.PASSWORD_HASHERS):
        assert make_password("a long enough password").startswith("argon2$argon2id$")
