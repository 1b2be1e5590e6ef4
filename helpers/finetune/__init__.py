"""The reusable fine-tuning layer: only the standard library, numpy, keras and matplotlib."""
