"""Fault injection: each test injects a real fault (a stopped or frozen PostgreSQL, a killed
Redis, an SI-DEP fault mode, a shifted clock, a full filesystem) and checks that nothing is
lost, doubled, erased or leaked, and that Relais recovers without a human."""
