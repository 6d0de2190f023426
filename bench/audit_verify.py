"""Audit chain: chaining (worker job) and `relais audit verify` speed.

python bench/audit_verify.py            # 1,000,000 events
python bench/audit_verify.py --short    # 10,000 events
"""

import json
import sys

from audit_setup import Timer, database_name, setup_django


def main() -> None:
    count = 10_000 if "--short" in sys.argv else 1_000_000
    setup_django()
    import uuid

    from relais.audit import chain
    from relais.audit.models import AuditEvent

    pharmacy, actor = uuid.uuid4(), uuid.uuid4()
    with Timer() as insert:
        for start in range(0, count, 20_000):
            AuditEvent.objects.bulk_create(
                [
                    AuditEvent(
                        actor_id=actor, pharmacy_id=pharmacy, action="patient.view",
                        target_type="screening.patient", target_id=str(uuid.uuid4()),
                        request_id="a1b2c3d4e5f60718", source="192.0.2.0/24",
                        details={"n": n},
                    )
                    for n in range(start, min(start + 20_000, count))
                ],
                batch_size=5000,
            )  # fmt: skip
    with Timer() as chaining:
        chained = chain.chain_all()
    with Timer() as verifying:
        result = chain.verify_chain()
    assert result.ok and result.checked == count == chained, result
    print(f"Audit chain on {database_name()}, {count:,} events")
    print(f"  insert (bulk):  {insert.seconds:7.1f} s")
    print(
        f"  chain (worker): {chaining.seconds:7.1f} s  {count / chaining.seconds:10,.0f} events/s"
    )
    print(
        f"  verify:         {verifying.seconds:7.1f} s  {count / verifying.seconds:10,.0f} events/s"
    )
    if "--json" in sys.argv:
        print("RESULT " + json.dumps({
            "database": database_name(), "count": count,
            "chain_per_s": count / chaining.seconds, "verify_per_s": count / verifying.seconds,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
