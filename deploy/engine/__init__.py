"""The engine compiler: reads an int8 .tflite, lowers its ops to kernel calls, plans memory, writes C."""
