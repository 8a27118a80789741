"""Facts about the machine. Parsers take text, so every platform's formats are tested anywhere."""
