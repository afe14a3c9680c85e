/* edgecnn QEMU TCG plugin: counts the guest instructions executed from the entry of one function to the
 * entry of another (e.g. ecnn_invoke -> ecnn_mark_end), once per pass, and prints each count.
 *
 * usage: qemu-system-arm ... -plugin insn_count.so,start=0xADDR,end=0xADDR -d plugin
 * output: one line "edgecnn-insns N" per start->end pass, then "edgecnn-insns-total T" at exit.
 *
 * QEMU 7.2's plugin API is version 1; Debian installs no qemu-plugin.h, so the few functions and types
 * used here are declared by hand, exactly as in include/qemu/qemu-plugin.h of QEMU 7.2. Counting uses
 * an inline add before every instruction, so the counts do not depend on timing: the same firmware and
 * inputs give the same numbers on every run. Single vCPU (all Cortex-M boards).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64,
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

static uint64_t start_addr = UINT64_MAX;
static uint64_t end_addr = UINT64_MAX;
static uint64_t executed;   /* every guest instruction, incremented inline */
static uint64_t started_at;
static int running;

static void on_start(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    started_at = executed;
    running = 1;
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    char line[64];
    (void)vcpu_index;
    (void)userdata;
    if (!running) {
        return;
    }
    running = 0;
    /* instructions in [start entry, end entry): whether QEMU runs a callback before or after its
     * instruction's inline add, both markers see the same order, so the difference is exact */
    snprintf(line, sizeof line, "edgecnn-insns %" PRIu64 "\n", executed - started_at);
    qemu_plugin_outs(line);
}

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    (void)id;
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == start_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    char line[64];
    (void)id;
    (void)userdata;
    snprintf(line, sizeof line, "edgecnn-insns-total %" PRIu64 "\n", executed);
    qemu_plugin_outs(line);
}

static int parse_addr(const char *text, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 0);
    if (end == text || *end != '\0') {
        return -1;
    }
    *out = (uint64_t)v & ~(uint64_t)1; /* Thumb function symbols have bit 0 set */
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "start=", 6) == 0 && parse_addr(argv[i] + 6, &start_addr) == 0) {
            continue;
        }
        if (strncmp(argv[i], "end=", 4) == 0 && parse_addr(argv[i] + 4, &end_addr) == 0) {
            continue;
        }
        fprintf(stderr, "insn_count: bad argument '%s' (expected start=0xADDR,end=0xADDR)\n", argv[i]);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
