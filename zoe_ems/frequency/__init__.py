"""Frequency services: sample validation, FFR/FCR/DC response shapes, state-of-energy windows, fast path."""
