"""Reading back the text of the PDFs Relais draws (fpdf2)."""

import functools
import io
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


@functools.lru_cache(maxsize=4)
def first_page(content: bytes):
    """The PDF's first page as pdfplumber reads it (kept for the next searches)."""
    import pdfplumber

    return pdfplumber.open(io.BytesIO(content)).pages[0]


def text_boxes(
    content: bytes, text: str, *, line_start: bool = False, within: tuple | None = None
) -> list[tuple]:
    """Where `text` is drawn on the PDF's first page, as pdfplumber lays out its
    characters: a (x0, top, x1, bottom) box per occurrence, in points; any run of
    whitespace in `text` also matches a line break (a wrapped label). `line_start`: only
    occurrences that begin a line; `within`: only characters wholly inside that box."""
    words = [re.escape(word) for word in text.split()]
    pattern = ("(?m)^" if line_start else "") + r"\s+".join(words)
    page = first_page(content)
    if within is not None:
        page = page.within_bbox(within)
    matches = page.search(pattern, regex=True)
    return [(m["x0"], m["top"], m["x1"], m["bottom"]) for m in matches]


def overlap(a: tuple, b: tuple) -> bool:
    """Whether two (x0, top, x1, bottom) boxes share any area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
