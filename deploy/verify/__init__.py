"""Verification: the generated engine against TFLM on the host, on QEMU and on a board over serial."""
