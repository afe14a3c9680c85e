/* edgecnn QEMU TCG plugin: counts the guest instructions executed from the entry of one function to the
 * entry of another (e.g. ecnn_invoke -> ecnn_mark_end), once per pass, and prints each count; with
 * cycles=m4 it also prints an ESTIMATE of Cortex-M4 cycles for the same pass (see "Cycle estimate" below).
 *
 * usage: qemu-system-arm ... -plugin insn_count.so,start=0xADDR,end=0xADDR[,cycles=m4][,trace=1] -d plugin
 * output: one line "edgecnn-insns N" per start->end pass (with cycles=m4, followed by "edgecnn-cycles C"),
 * then "edgecnn-insns-total T" (and "edgecnn-cycles-total" with cycles=m4) at exit. trace=1 also prints,
 * at translation time, each instruction's disassembly and its static cycle weight ("edgecnn-trace ...").
 *
 * QEMU 7.2's plugin API is version 1; Debian installs no qemu-plugin.h, so the few functions and types
 * used here are declared by hand, exactly as in include/qemu/qemu-plugin.h of QEMU 7.2. Counting uses
 * an inline add before every instruction, so the counts do not depend on timing: the same firmware and
 * inputs give the same numbers on every run. Single vCPU (all Cortex-M boards).
 *
 * Cycle estimate (cycles=m4). The instruction count is exact; the cycle figure is a model, not a
 * measurement: QEMU has no pipeline, so each executed instruction is weighted with the cycle counts of
 * the Arm Cortex-M4 Technical Reference Manual (r0p1, Arm 100166_0001_00 / DDI 0439), chapter 3
 * "Programmers Model", section 3.3 "Processor instruction timings": Table 3-1 "Processor instruction set
 * summary" (zero wait states) and 3.3.2 "Load/store timings". P (pipeline refill after a taken branch,
 * 1 to 3 in the TRM) is taken as 2. The weights, by class of instruction (decoded from QEMU's
 * disassembly at translation time, so the per-instruction cost is a constant added inline):
 *   other (ALU, move, compare, shift, extend, saturate, bitfield, IT, NOP, ...)        1
 *   multiply and MAC: MUL MLA MLS, SMULL UMULL SMLAL UMLAL UMAAL, every DSP multiply    1
 *     (SMLAD SMLABB SMUAD SMMLA SMULWB ...; Table 3-1 gives 1 for all on the M4)
 *   SDIV UDIV: 2 to 12 in Table 3-1 (early termination on operand size); taken as     7 (midpoint)
 *   single load LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX                                        2
 *     ... 1 when the previous instruction (same translation block, so it ran just before) is a
 *     single load and its destination register is not used in this load's address (3.3.2: "LDR [any]
 *     are pipelined when possible ... one cycle is removed from the cost of the next instruction")
 *   single store STR/STRB/STRH (3.3.2: "STR Rx,[Ry,#imm] is always one cycle"; the same is used
 *     for register offsets)                                                              1
 *   LDRD STRD: 1+N with N = 2                                                           3
 *   LDM STM PUSH POP (VLDM VSTM VPUSH VPOP likewise): 1+N, N = registers in the list   1+N
 *   floating point: VLDR VSTR 2, VMLA/VMLS/VNMLA/VNMLS 3, VDIV VSQRT 14, other V* 1
 *   unconditional branch or PC write (B BL BX BLX, POP/LDM with PC, LDR PC, MOV/ADD PC,
 *     TBB/TBH): the class cost plus P                                                  (1, 1+N, 2, 2)+P
 *   conditional branch (Bcc, CBZ, CBNZ, or a branch or PC write inside an IT block): 1, plus P when taken.
 *   An instruction inside an IT block whose condition fails is charged as if it ran.
 * Taken or not is seen at run time: QEMU ends a translation block (TB) at every branch, so a per-TB
 * callback compares the address of the TB that runs next with the fall-through address of the
 * conditional branch that ended the previous TB.
 * Not modelled (so the estimate is a lower bound for a zero-wait-state M4): the extra cycle of a load or
 * store whose address depends on the result of the instruction before it, LDR [PC] fetch contention,
 * wait states, bus contention, interrupts, IT folding and the 1-3 variation of P. The Cortex-M7 TRM
 * (DDI 0489) publishes no per-instruction timing table; on the M7 the same M4 weights are used, which
 * ignores its dual issue and branch prediction: the M7 figure is an M4-timing estimate of the M7 binary.
 */
#include <ctype.h>
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
/* used by the cycle estimate only */
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void g_free(void *mem); /* GLib, linked into QEMU: frees qemu_plugin_insn_disas's string */

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

static uint64_t start_addr = UINT64_MAX;
static uint64_t end_addr = UINT64_MAX;
static uint64_t executed;   /* every guest instruction, incremented inline */
static uint64_t started_at;
static int running;

/* cycle estimate (cycles=m4): see the header comment for the table and its source */
#define P_REFILL 2u      /* pipeline refill after a taken branch (TRM: 1 to 3) */
#define DIV_CYCLES 7u    /* SDIV/UDIV (TRM: 2 to 12) */
#define NO_BRANCH UINT64_MAX
static int estimate_cycles;
static int trace;
static uint64_t cycles;            /* static weights inline, plus P for every taken conditional branch */
static uint64_t cycles_started_at;
static uint64_t pending_fallthrough = NO_BRANCH; /* the TB that just ran ended in a conditional branch */

struct tb_info {
    uint64_t pc;          /* first instruction of this TB */
    uint64_t fallthrough; /* after its last instruction, if that is a conditional branch; else NO_BRANCH */
};

struct insn_cost {
    unsigned cycles;     /* static part: every cost except the run-time +P of a conditional branch */
    int cond_branch;     /* conditional branch (or PC write in an IT block): +P when taken */
    int single_load;     /* LDR/LDRB/...: may pipeline the next load */
    int load_dest;       /* destination register of a single load (0-15), else -1 */
    int load_addr_regs;  /* bit mask of the registers in a load's address, for the pipelining rule */
};
static void on_start(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    started_at = executed;
    cycles_started_at = cycles;
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
    if (estimate_cycles) {
        snprintf(line, sizeof line, "edgecnn-cycles %" PRIu64 "\n", cycles - cycles_started_at);
        qemu_plugin_outs(line);
    }
}

static void on_tb_exec(unsigned int vcpu_index, void *userdata)
{
    const struct tb_info *tb = userdata;
    (void)vcpu_index;
    if (pending_fallthrough != NO_BRANCH && tb->pc != pending_fallthrough) {
        cycles += P_REFILL; /* the conditional branch that ended the previous TB was taken */
    }
    pending_fallthrough = tb->fallthrough;
}

/* register number of "r0".."r12", "sb" (r9), "sl" (r10), "fp" (r11), "ip" (r12), "sp", "lr", "pc"; or -1 */
static int reg_number(const char *t, size_t n)
{
    static const char *const alias[] = {"sb", "sl", "fp", "ip", "sp", "lr", "pc"};
    size_t i;
    if (n >= 2 && n <= 3 && t[0] == 'r' && isdigit((unsigned char)t[1])) {
        int r = atoi(t + 1);
        return r <= 15 ? r : -1;
    }
    for (i = 0; i < sizeof alias / sizeof alias[0]; ++i) {
        if (n == 2 && strncmp(t, alias[i], 2) == 0) {
            return 9 + (int)i;
        }
    }
    return -1;
}

/* registers named in text[0..n) as a bit mask; *count gets how many there are (d/s/q FP registers count
 * one each) */
static unsigned reg_mask(const char *text, size_t n, unsigned *count)
{
    unsigned mask = 0;
    size_t i = 0;
    *count = 0;
    while (i < n) {
        size_t j = i;
        int r;
        if (!isalnum((unsigned char)text[i])) {
            ++i;
            continue;
        }
        while (j < n && isalnum((unsigned char)text[j])) {
            ++j;
        }
        r = reg_number(text + i, j - i);
        if (r >= 0) {
            mask |= 1u << r;
            ++*count;
        } else if ((text[i] == 'd' || text[i] == 's' || text[i] == 'q') && j - i >= 2 &&
                   isdigit((unsigned char)text[i + 1])) {
            ++*count;
        }
        i = j;
    }
    return mask;
}

static int starts(const char *m, const char *prefix)
{
    return strncmp(m, prefix, strlen(prefix)) == 0;
}

static int is_cond(const char *c)
{
    static const char *const conds[] = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl",
                                        "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"};
    size_t i;
    for (i = 0; i < sizeof conds / sizeof conds[0]; ++i) {
        if (strcmp(c, conds[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Class and static weight of one instruction from its disassembly "mnemonic operands" (QEMU's capstone
 * output, e.g. "ldr.w r3, [r1, #4]", "smlad r0, r2, r3, r0", "bne #0x1a4", "pop {r4, r5, pc}"). */
static struct insn_cost classify(const char *text, int in_it)
{
    struct insn_cost c = {1, 0, 0, -1, 0};
    char m[16];
    const char *ops = text;
    size_t n = 0, len;
    unsigned nregs = 0, list_regs = 0, list_mask = 0;
    int writes_pc, cond = in_it;
    const char *brace;
    while (*ops == ' ') {
        ++ops;
    }
    while (ops[n] && ops[n] != ' ' && n + 1 < sizeof m) {
        m[n] = (char)tolower((unsigned char)ops[n]);
        ++n;
    }
    m[n] = '\0';
    ops += n;
    if (strchr(m, '.')) {
        *strchr(m, '.') = '\0'; /* ".w", ".n", ".f32", ".s8", ... */
    }
    len = strlen(m);
    brace = strchr(ops, '{');
    if (brace && strchr(brace, '}')) {
        list_mask = reg_mask(brace, (size_t)(strchr(brace, '}') - brace), &list_regs);
    }
    /* the destination: the first operand, up to the first comma */
    {
        size_t k = strcspn(ops, ",");
        unsigned first_count;
        unsigned first = reg_mask(ops, k, &first_count);
        writes_pc = (first & (1u << 15)) != 0 || (list_mask & (1u << 15)) != 0;
    }

    /* branches first: "b", "bl", "bx", "blx", "b<cc>", "bx<cc>", "blx<cc>", "cbz", "cbnz" */
    if (strcmp(m, "cbz") == 0 || strcmp(m, "cbnz") == 0) {
        c.cond_branch = 1;
        return c;
    }
    if (strcmp(m, "b") == 0 || strcmp(m, "bl") == 0 || strcmp(m, "bx") == 0 || strcmp(m, "blx") == 0) {
        if (in_it) {
            c.cond_branch = 1; /* e.g. "it eq; bx lr": capstone prints it without the condition */
        } else {
            c.cycles = 1 + P_REFILL;
        }
        return c;
    }
    if ((len == 3 && m[0] == 'b' && is_cond(m + 1)) || (len == 4 && starts(m, "bx") && is_cond(m + 2)) ||
        (len == 5 && starts(m, "blx") && is_cond(m + 3)) || (len == 4 && starts(m, "bl") && is_cond(m + 2))) {
        c.cond_branch = 1;
        return c;
    }
    /* a condition suffix on any other mnemonic (inside an IT block): strip it, remember it. (QEMU disassembles
     * one instruction at a time, so capstone does not know the IT state and prints none; the IT block is
     * tracked by the caller, in_it) */
    if (len > 2 && is_cond(m + len - 2) && strcmp(m, "teq") != 0 && !starts(m, "vc") && strcmp(m, "vmls") != 0 &&
        strcmp(m, "vnmls") != 0 && strcmp(m, "smmls") != 0 && strcmp(m, "smlals") != 0 &&
        strcmp(m, "umlals") != 0 && strcmp(m, "bics") != 0 && strcmp(m, "mls") != 0) {
        m[len - 2] = '\0';
        len -= 2;
        cond = 1;
    }

    if (strcmp(m, "tbb") == 0 || strcmp(m, "tbh") == 0) {
        c.cycles = 2 + P_REFILL;
    } else if (strcmp(m, "push") == 0 || strcmp(m, "pop") == 0 || starts(m, "ldm") || starts(m, "stm") ||
               strcmp(m, "vpush") == 0 || strcmp(m, "vpop") == 0 || starts(m, "vldm") || starts(m, "vstm")) {
        c.cycles = 1 + list_regs;
    } else if (strcmp(m, "ldrd") == 0 || strcmp(m, "strd") == 0 || strcmp(m, "ldrexd") == 0 ||
               strcmp(m, "strexd") == 0) {
        c.cycles = 3;
    } else if (starts(m, "ldr") || starts(m, "ldaex") || starts(m, "lda")) {
        const char *addr = strchr(ops, '[');
        unsigned first_count;
        c.cycles = 2;
        c.single_load = 1;
        c.load_dest = -1;
        {
            size_t k = strcspn(ops, ",");
            unsigned first = reg_mask(ops, k, &first_count);
            int r;
            for (r = 0; r < 16; ++r) {
                if (first == (1u << r)) {
                    c.load_dest = r;
                }
            }
        }
        if (addr) {
            const char *close = strchr(addr, ']');
            c.load_addr_regs = (int)reg_mask(addr, close ? (size_t)(close - addr) : strlen(addr), &nregs);
        } else {
            c.load_addr_regs = 1 << 15; /* literal load: [pc, #imm] */
        }
    } else if (starts(m, "str") || starts(m, "stl")) {
        c.cycles = 1;
    } else if (strcmp(m, "sdiv") == 0 || strcmp(m, "udiv") == 0) {
        c.cycles = DIV_CYCLES;
    } else if (strcmp(m, "vldr") == 0 || strcmp(m, "vstr") == 0) {
        c.cycles = 2;
    } else if (strcmp(m, "vdiv") == 0 || strcmp(m, "vsqrt") == 0) {
        c.cycles = 14;
    } else if (strcmp(m, "vmla") == 0 || strcmp(m, "vmls") == 0 || strcmp(m, "vnmla") == 0 ||
               strcmp(m, "vnmls") == 0) {
        c.cycles = 3;
    } else {
        c.cycles = 1; /* ALU, multiply/MAC (all 1 on the M4), moves, IT, NOP, other FP */
    }
    if (writes_pc && strcmp(m, "str") != 0 && !starts(m, "stm") && strcmp(m, "push") != 0 && !starts(m, "cmp") &&
        !starts(m, "tst")) {
        /* LDR PC, POP {.., pc}, MOV PC, ADD PC: a branch */
        c.single_load = 0;
        if (cond) {
            c.cond_branch = 1;
        } else {
            c.cycles += P_REFILL;
        }
    }
    return c;
}


static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    struct insn_cost prev = {0, 0, 0, -1, 0};
    struct tb_info *info = NULL;
    int it_left = 0; /* instructions still to come in the current IT block */
    (void)id;
    if (estimate_cycles) {
        info = malloc(sizeof *info); /* lives as long as the TB may run: not freed (a few bytes per TB) */
        if (info == NULL) {
            abort();
        }
        info->pc = qemu_plugin_tb_vaddr(tb);
        info->fallthrough = NO_BRANCH;
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, info);
    }
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
        if (estimate_cycles) {
            char *text = qemu_plugin_insn_disas(insn);
            struct insn_cost c = classify(text ? text : "", it_left > 0);
            const char *mn = text ? text + strspn(text, " ") : "";
            if (it_left > 0) {
                --it_left;
            } else if (mn[0] == 'i' && mn[1] == 't' && (mn[2] == ' ' || mn[2] == 't' || mn[2] == 'e')) {
                it_left = (int)strcspn(mn, " ") - 1; /* "it" 1, "itt"/"ite" 2, ... "itete" 4 */
            }
            if (c.single_load && prev.single_load && prev.load_dest >= 0 &&
                !(c.load_addr_regs & (1 << prev.load_dest))) {
                c.cycles -= 1; /* pipelined behind the load just before it (TRM 3.3.2) */
            }
            if (c.cond_branch && i + 1 == n) {
                info->fallthrough = pc + qemu_plugin_insn_size(insn);
            }
            if (trace) {
                char line[160];
                snprintf(line, sizeof line, "edgecnn-trace 0x%08" PRIx64 " %u%s %s\n", pc, c.cycles,
                         c.cond_branch ? "+P?" : "", text ? text : "?");
                qemu_plugin_outs(line);
            }
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &cycles, c.cycles);
            prev = c;
            g_free(text);
        }
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    char line[64];
    (void)id;
    (void)userdata;
    snprintf(line, sizeof line, "edgecnn-insns-total %" PRIu64 "\n", executed);
    qemu_plugin_outs(line);
    if (estimate_cycles) {
        snprintf(line, sizeof line, "edgecnn-cycles-total %" PRIu64 "\n", cycles);
        qemu_plugin_outs(line);
    }
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
        if (strcmp(argv[i], "cycles=m4") == 0) {
            estimate_cycles = 1;
            continue;
        }
        if (strcmp(argv[i], "trace=1") == 0) {
            trace = 1;
            continue;
        }
        fprintf(stderr, "insn_count: bad argument '%s' (expected start=0xADDR,end=0xADDR[,cycles=m4][,trace=1])\n",
                argv[i]);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
