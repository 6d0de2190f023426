"""Model fields encrypted one by one with the AEAD keyset.

The associated data binds each ciphertext to its table, column and row id, so a
ciphertext copied into another row or column fails to decrypt. Models using these
fields need a primary key that is known before saving (a UUID default).

Values are decrypted lazily, on first attribute access, and only for the fields read.
"""

import datetime

from django.db import models

from relais.crypto.blobs import decrypt_blob, encrypt_blob


class Ciphertext(bytes):
    """A value as loaded from the database, not yet decrypted."""


def associated_data(model: type[models.Model], column: str, pk) -> bytes:
    return f"{model._meta.db_table}.{column}.{pk}".encode()


class EncryptedDescriptor:
    def __init__(self, field: "EncryptedField"):
        self.field = field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self.field.attname not in instance.__dict__:
            instance.refresh_from_db(fields=[self.field.attname])  # a deferred field
        value = instance.__dict__[self.field.attname]
        if isinstance(value, Ciphertext):
            value = self.field.decrypt(instance, value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance, value):
        if isinstance(value, memoryview):
            value = Ciphertext(value.tobytes())
        elif isinstance(value, bytes) and not isinstance(value, Ciphertext):
            value = Ciphertext(value)
        instance.__dict__[self.field.attname] = value


class EncryptedField(models.BinaryField):
    """Base class: subclasses say how a Python value becomes bytes and back."""

    empty_values = (None, "")
    column: str  # set by contribute_to_class; the associated data names it

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("editable", True)
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only)
        setattr(cls, self.attname, EncryptedDescriptor(self))

    def to_bytes(self, value) -> bytes:
        raise NotImplementedError

    def from_bytes(self, data: bytes):
        raise NotImplementedError

    def empty(self):
        return None

    def decrypt(self, instance, ciphertext: bytes):
        ad = associated_data(type(instance), self.column, instance.pk)
        return self.from_bytes(decrypt_blob(ciphertext, ad))

    def encrypt(self, instance, value) -> bytes:
        ad = associated_data(type(instance), self.column, instance.pk)
        return encrypt_blob(self.to_bytes(value), ad)

    def pre_save(self, model_instance, add):
        raw = model_instance.__dict__.get(self.attname)
        if isinstance(raw, Ciphertext):
            return bytes(raw)  # unchanged since it was loaded: keep the stored ciphertext
        if raw in self.empty_values:
            return None
        if model_instance.pk is None:
            raise ValueError("encrypted fields need a primary key set before saving")
        return self.encrypt(model_instance, raw)

    def get_db_prep_value(self, value, connection, prepared=False):
        # Only ciphertext from pre_save reaches the database: a plaintext passed to
        # QuerySet.update() would otherwise be stored as it is.
        if value is not None and not isinstance(value, bytes | memoryview):
            raise TypeError("encrypted fields are written through save(), not update()")
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return self.empty()
        return Ciphertext(bytes(value))

    def to_python(self, value):
        return value

    def value_from_object(self, obj):
        return getattr(obj, self.attname)

    def get_lookup(self, lookup_name):
        # Comparing ciphertexts means nothing; look-ups go through blind indexes.
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)


class EncryptedTextField(EncryptedField):
    # For django-stubs: the model attribute holds text (the column holds ciphertext).
    _pyi_private_set_type: str | None
    _pyi_private_get_type: str  # type: ignore[assignment]  # BinaryField's is bytes

    def to_bytes(self, value) -> bytes:
        return str(value).encode()

    def from_bytes(self, data: bytes):
        return data.decode()

    def empty(self):
        return ""


class EncryptedDateField(EncryptedField):
    # For django-stubs: the model attribute holds a date (the column holds ciphertext).
    _pyi_private_set_type: datetime.date | str | None
    _pyi_private_get_type: datetime.date  # type: ignore[assignment]  # BinaryField's is bytes

    def to_bytes(self, value) -> bytes:
        if not isinstance(value, datetime.date):
            value = datetime.date.fromisoformat(str(value))
        return value.isoformat().encode()

    def from_bytes(self, data: bytes):
        return datetime.date.fromisoformat(data.decode())
