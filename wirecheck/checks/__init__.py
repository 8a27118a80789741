"""The checks: one module per check (or a few closely related ones), each declaring its
`CheckSpec`s in `SPECS`; `catalogue` lists them in display order and loads them lazily."""
