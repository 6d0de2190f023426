"""Key rotation speed: `relais keys rotate` over N patients (12 encrypted fields, 2 indexes).

python bench/key_rotation.py            # 100,000 patients
python bench/key_rotation.py --short    # 5,000
"""

import json
import sys

from audit_setup import Timer, database_name, make_patients, make_world, setup_django
from tests.support.fictitious import PATIENT_DATA


def main() -> None:
    count = 1_000 if "--tiny" in sys.argv else 5_000 if "--short" in sys.argv else 100_000
    setup_django()
    from relais.crypto import rotation
    from relais.crypto.keyset import get_keys, primary_key_id
    from relais.screening.models import Patient

    pharmacy, user = make_world()
    with Timer() as creating:
        make_patients(pharmacy, user, count)
    rotation.RELOAD_CHECK_SECONDS = 0  # no other process to wait for here
    with Timer() as rotating:
        totals = rotation.rotate()
    rewritten = totals["screening.Patient"].rewritten
    usage = rotation.usage()
    primary = primary_key_id(get_keys().aead_handle)
    assert rewritten == count and set(usage.aead) == {primary}, (rewritten, usage.aead)
    with Timer() as dropping:
        dropped, kept = rotation.drop_unused_keys()
    assert len(dropped) == 2 and not kept
    sample = Patient.objects.order_by("?").first()
    assert sample.birth_name == PATIENT_DATA["birth_name"]
    print(f"Key rotation on {database_name()}, {count:,} patients (12 encrypted fields each)")
    print(f"  create (bulk, pre-encrypted): {creating.seconds:7.1f} s")
    print(
        f"  rotate (re-encrypt + indexes, then a checking pass): {rotating.seconds:7.1f} s "
        f"= {count / rotating.seconds:,.0f} rows/s"
    )
    print(f"  status + drop-old: {dropping.seconds:7.1f} s")
    if "--json" in sys.argv:
        result = {"database": database_name(), "count": count, "seconds": rotating.seconds}
        print("RESULT " + json.dumps({**result, "rows_per_s": count / rotating.seconds}))


if __name__ == "__main__":
    main()
