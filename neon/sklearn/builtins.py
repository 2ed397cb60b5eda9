"""Imports every built-in neuralizer module so their registrations run."""
