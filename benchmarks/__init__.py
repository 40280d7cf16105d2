"""Benchmark harness: the spiking kernel beside NUTS and VI on the same posteriors."""
