"""Helpers shared by tests: playing cloud machines' boot, emulators of cloud APIs."""
