"""Training tokenizers and models."""
