"""Pure renderers: Report in, text or bytes out. Writing files is `report.files`' job."""
