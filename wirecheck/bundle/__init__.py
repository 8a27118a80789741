"""`wirecheck bundle`: the one archive support asks for.

Stages, each its own module: `items` (what to collect, as data), `collect` (run it, bounded
in time and size), `redact` (replace what identifies the customer, consistently), `archive`
(tar.gz or zip, atomic, 0600), `build` (the pipeline and the manifest).
"""
