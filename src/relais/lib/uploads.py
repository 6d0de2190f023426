"""Uploaded files stay in memory, never in a temporary file.

Django writes an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file in
clear, where it sits while it is checked and survives a crash of the process. Relais's
only uploads are CSV files of patients' results: this handler keeps each one in memory up
to RELAIS_IMPORT_MAX_BYTES. Past that it keeps counting but drops the bytes, and the file
arrives empty with its real size, for the import to refuse by name ("file too large").
"""

from io import BytesIO

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers


class BoundedMemoryFileUploadHandler(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.content: BytesIO | None = BytesIO()
        self.received = 0
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.content is not None and self.received > settings.IMPORT_MAX_BYTES:
            self.content = None  # too large: free what was kept, count the rest
        if self.content is not None:
            self.content.write(raw_data)
        return None  # no other handler gets the data

    def file_complete(self, file_size):
        content = self.content if self.content is not None else BytesIO()
        content.seek(0)
        return InMemoryUploadedFile(
            file=content,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
