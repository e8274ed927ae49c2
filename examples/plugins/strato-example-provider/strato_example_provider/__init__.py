"""A worked example of a Strato provider plugin."""
