"""`python -m wirecheck.lab`: the lab commands on their own (same as `wirecheck lab`)."""

from wirecheck.lab.cli import lab_app

lab_app(prog_name="wirecheck lab")
