"""Reading back the text of the PDFs Relais draws (fpdf2)."""

import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
SHOWN_TEXT = re.compile(rb"\(((?:\\.|[^\\)])*)\) Tj")


def pdf_text(content: bytes) -> str:
    """The strings drawn ("(text) Tj", with \\, ( and ) escaped), one a line, from the
    content streams, Flate-compressed or not."""
    parts = []
    for stream in STREAM.findall(content):
        try:
            data = zlib.decompress(stream)
        except zlib.error:
            data = stream
        parts += [re.sub(rb"\\(.)", rb"\1", raw) for raw in SHOWN_TEXT.findall(data)]
    return "\n".join(part.decode("latin-1") for part in parts)
