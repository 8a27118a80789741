"""Thin network I/O. Every function takes what is left of the deadline and never raises
for network outcomes: it returns them, classified."""
