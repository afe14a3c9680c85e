"""The devices: compilers and flags, Cortex-M firmware and board images, QEMU, the serial link, flashing, Arduino, TFLM arrays."""
