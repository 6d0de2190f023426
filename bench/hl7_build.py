"""Time to build one HL7 v2.5.1 ORU^R01 message (relais.transmission.hl7.build_oru_r01).

Builds N messages from N varied in-memory records (every test kind, result, specimen and
F/C/D status; names with and without HL7 delimiters, with or without NIR, used name,
contact) and prints the median and p99 time per message. For scale, it also times
hl7apy's strict parse + validation (what the simulator does per message) on a sample.

    .venv/bin/python bench/hl7_build.py            # N = 10,000
    .venv/bin/python bench/hl7_build.py --short    # N = 1,000
"""

import datetime
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

os.environ.setdefault("RELAIS_VAR_DIR", tempfile.mkdtemp(prefix="relais-bench-"))
os.environ["RELAIS_DEMO"] = "1"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")

import django  # noqa: E402

django.setup()

from hl7apy.consts import VALIDATION_LEVEL  # noqa: E402
from hl7apy.parser import parse_message  # noqa: E402

from relais.accounts.models import Pharmacy, User  # noqa: E402
from relais.screening import catalogue  # noqa: E402
from relais.screening.models import Patient, ScreeningTest  # noqa: E402
from relais.transmission.hl7 import build_oru_r01  # noqa: E402

BIRTH_NAMES = ["Lefèvre", "Martin", "N'Diaye", "O'Brien | Smith", "Dupont^Durand", "Nguyễn"]
GIVEN = ["Élodie Anne", "Jean", "Marie-Claire Louise Paule", "Zoé", "Ali & Co"]
STREETS = ["12 rue des Lilas", "3 rue | Pipe\nBât. B", "Lieu-dit ~ Les Prés", ""]


def record(rng: random.Random, number: int) -> ScreeningTest:
    pharmacy = Pharmacy(name=f"Pharmacie {number % 50}", finess=f"75{number % 9999999:07d}",
                        address="1 place de la Mairie")  # fmt: skip
    user = User(email=f"p{number}@example.org", full_name="Jean Dupont", rpps="10001234567")
    birth_name = rng.choice(BIRTH_NAMES)
    patient = Patient(
        pharmacy=pharmacy, birth_name=birth_name, used_name=rng.choice(["", birth_name, "Martin"]),
        given_names=rng.choice(GIVEN), birth_date=datetime.date(1940, 1, 1)
        + datetime.timedelta(days=rng.randrange(30000)), sex=rng.choice("MFU"),
        birthplace_code=rng.choice(["75056", ""]), nir=rng.choice(["285037505612306", ""]),
        address=rng.choice(STREETS), postal_code="75011", city="Paris",
        phone=rng.choice(["+33612345678", ""]), email=rng.choice(["a@example.org", ""]),
    )  # fmt: skip
    kind = rng.choice(list(catalogue.TEST_KINDS.values()))
    test = ScreeningTest(
        pharmacy=pharmacy, patient=patient, performed_by=user, kind=kind.code,
        device=rng.choice(["Demo AG Rapid", "", "Kit\\v2"]), specimen=rng.choice(kind.specimens),
        sampled_at=datetime.datetime(2026, 11, 23, 9, 30, tzinfo=datetime.UTC)
        - datetime.timedelta(minutes=rng.randrange(100000)),
        result=rng.choice(list(catalogue.RESULTS)), consent_transmission=True,
    )  # fmt: skip
    # A multiplex kit's other results, by analyte.
    test.other_results = {a.code: rng.choice(list(catalogue.RESULTS)) for a in kind.analytes[1:]}
    return test


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    count = 1_000 if "--short" in sys.argv else 10_000
    rng = random.Random(2026)  # noqa: S311
    records = [record(rng, number) for number in range(count)]
    statuses = [rng.choice("FFFCD") for _ in range(count)]
    # The worker builds one batch at a time; without this, the garbage collector's scans of
    # the N records built up front (not the builds themselves) would dominate the p99.
    gc.freeze()
    created_at = datetime.datetime.now(datetime.UTC)
    timings, cpu_timings, messages = [], [], []
    for test, status in zip(records, statuses, strict=True):
        message_id = uuid.uuid4().hex.upper()
        started, cpu_started = time.perf_counter(), time.thread_time()
        message = build_oru_r01(
            test, message_id=message_id, result_status=status, created_at=created_at
        )
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.thread_time() - cpu_started)
        messages.append(message)
    # On a shared machine the wall-clock p99 catches preemptions; CPU time does not.
    sizes = [len(message.encode()) for message in messages]
    print(f"HL7 ORU^R01 build: {count} messages from {count} varied in-memory records")
    print(f"  median {statistics.median(timings) * 1e6:.0f} µs/message, "
          f"p99 {percentile(timings, 0.99) * 1e6:.0f} µs/message, "
          f"throughput {count / sum(timings):,.0f} messages/s (wall clock)")  # fmt: skip
    print(f"  median {statistics.median(cpu_timings) * 1e6:.0f} µs/message, "
          f"p99 {percentile(cpu_timings, 0.99) * 1e6:.0f} µs/message (thread CPU)")  # fmt: skip
    print(f"  message size: median {statistics.median(sizes):.0f} bytes, max {max(sizes)} bytes")
    sample = messages[: min(200, count)]
    validation = []
    for message in sample:
        started = time.perf_counter()
        parse_message(message, validation_level=VALIDATION_LEVEL.STRICT).validate()
        validation.append(time.perf_counter() - started)
    print(f"  for scale, hl7apy strict parse + validate ({len(sample)} messages): "
          f"median {statistics.median(validation) * 1e3:.1f} ms/message")  # fmt: skip
    if "--json" in sys.argv:
        print("RESULT " + json.dumps({
            "count": count, "median_us": statistics.median(timings) * 1e6,
            "p99_us": percentile(timings, 0.99) * 1e6,
            "cpu_median_us": statistics.median(cpu_timings) * 1e6,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
