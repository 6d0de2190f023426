"""A stand-in for SI-DEP, the national screening information system, for the demo and tests.

A real HTTPS server with client-certificate authentication that validates HL7 v2.5.1
ORU^R01 messages with hl7apy, de-duplicates them on MSH-10, keeps what it accepted in its
own SQLite database, and answers one ACK per message. Faults are injected from its
command line. It never imports relais, and relais never imports it.
"""
