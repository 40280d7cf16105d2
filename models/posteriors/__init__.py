"""One module per benchmark posterior: ``KIND`` and ``make(data) -> (model, args, kwargs)``."""
