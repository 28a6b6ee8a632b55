"""Weight file readers: one module per format behind formats.interface.TensorReader."""
