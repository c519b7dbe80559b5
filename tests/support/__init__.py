"""What the tests share, apart from the fixtures (the conftest files): the
database and server helpers, the live client, the leak checks, the scenario
player of the revenue and cohort tests and their people filters, the random
worlds of the report property tests, the funnel's case and oracle helpers,
the revenue answer's shape, a cuttable proxy, the fakes, and the ordering of
the examples checks. The oracle is tests/support/reference.py. A test module
imports from here, never from another test module or a conftest
(tests/test_layout.py checks that)."""
