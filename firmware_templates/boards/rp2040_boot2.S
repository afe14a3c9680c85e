/* edgecnn RP2040 boot2: the 256 bytes at the start of flash that the boot ROM copies to SRAM, checks (CRC-32
 * in the last 4 bytes) and runs. Sets the XIP SSI to plain 03h serial reads (every QSPI flash supports them,
 * clock clk_sys / 4), then enters the image through the vector table at 0x10000100 (or returns to a caller).
 * rp2040_boot2.c holds these bytes, assembled, plus the CRC; tests/test_boards.py re-assembles and checks. */
    .syntax unified
    .cpu cortex-m0plus
    .thumb
    .section .boot2, "ax"
    .global ecnn_boot2
    .type ecnn_boot2, %function
ecnn_boot2:
    push {lr}
    ldr r3, =0x18000000     /* XIP_SSI_BASE */
    movs r1, #0
    str r1, [r3, #0x08]     /* SSIENR = 0: disable to configure */
    movs r1, #4
    str r1, [r3, #0x14]     /* BAUDR = 4 */
    ldr r1, =0x001f0300     /* CTRLR0: 32-bit frames (DFS_32 = 31), TMOD = EEPROM read, standard SPI */
    str r1, [r3, #0x00]
    ldr r1, =0x03000218     /* SPI_CTRLR0: XIP command 03h, 8-bit instruction, 24-bit address */
    ldr r0, =0x180000f4
    str r1, [r0]
    movs r1, #0
    str r1, [r3, #0x04]     /* CTRLR1: NDF = 0 (one frame per read) */
    movs r1, #1
    str r1, [r3, #0x08]     /* SSIENR = 1 */
    pop {r0}
    cmp r0, #0
    beq 1f
    bx r0                   /* called as a function: return */
1:  ldr r0, =0x10000100     /* from the boot ROM (lr = 0): the image's vector table */
    ldr r1, =0xe000ed08     /* VTOR */
    str r0, [r1]
    ldmia r0, {r0, r1}
    msr msp, r0
    bx r1
    .ltorg
