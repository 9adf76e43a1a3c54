"""hetero's built-in backends (imported as ``hetero.backends``), each registered as a plugin."""
