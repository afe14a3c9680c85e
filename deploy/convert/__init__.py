"""From Keras to int8: quantization, TFLite/ONNX export, golden data, and the TFLM reference runs."""
