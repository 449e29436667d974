"""One module per doctor check (see ctrtool.doctor)."""
