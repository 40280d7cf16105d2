"""The samplers the benchmark runs, one a module: NumPyro kernels (NUTS and the spiking
networks), nutpie, BlackJAX MAMS and ChEES, and variational inference run to convergence."""
