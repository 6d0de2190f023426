"""Small helpers shared by the apps, one of each: request facts (http), the rate counter
(ratelimit), the log filters (logging) and local calendar days (dates)."""
