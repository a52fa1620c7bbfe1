"""Deployment: export a network as the device runs it (ONNX, checked TFLite) and measure it end to end."""
