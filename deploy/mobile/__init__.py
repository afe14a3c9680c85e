"""Mobile: the Android bundle (LiteRT and ONNX Runtime files, Kotlin classifier)."""
