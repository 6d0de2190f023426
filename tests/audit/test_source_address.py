from relais.audit.events import truncate_address


def test_addresses_are_truncated_for_the_audit_log():
    assert truncate_address("203.0.113.77") == "203.0.113.0/24"
    assert truncate_address("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert truncate_address("garbage") == ""
