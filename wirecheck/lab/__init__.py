"""`wirecheck lab`: a simulated Azure host in network namespaces, with fault scenarios.

Layout: `names` (what the lab is called on the machine), `scenarios` (the fault scenarios
and the verdicts each expects: the integration-test matrix), `topology` (the commands that
build a scenario, as plain data), `lab` (building and tearing down), `run` (wirecheck
inside the VM namespace), `wireserver` and `dnsserver` (the simulators), `cli` (typer).
"""
