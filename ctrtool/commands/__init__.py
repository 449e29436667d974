"""One module per command group: parse options, call the core, hand results to the output sink."""
