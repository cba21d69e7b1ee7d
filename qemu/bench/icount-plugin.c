// SPDX-License-Identifier: GPL-2.0
/*
 * rpm-icount: a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts,
 * per vCPU, the guest instructions executed at kernel addresses, and writes the
 * counts of every vCPU to a file each time the guest executes an instruction on
 * the marker page, a page that selftests/benchmark/bench.c maps at a fixed user address
 * and calls into around the sections it wants counted. `make bench`
 * (qemu/bench/bench.sh) loads it and qemu/bench/bench-report.py pairs the markers.
 *
 * Beside the instructions it counts what explains a time an instruction count
 * does not: per vCPU, the kernel's memory accesses (each load and store QEMU
 * emulates: one per iteration of a rep string instruction; not those of the
 * last instruction of a block, see may_watch()) and its locked
 * instructions (a lock prefix, or xchg with memory: tens of cycles each on a
 * real CPU); and per section (from a begin marker to the next end marker) the
 * distinct 64-byte lines of memory the kernel accessed on any vCPU, a measure
 * of what a cache-miss-bound loop pays.
 *
 * Arguments: outfile=PATH (required), marker=ADDR (the marker page's guest
 * virtual address, default below; bench.c uses the same one).
 *
 * The marker page is 4096 one-byte `ret` instructions; which offset the guest
 * calls is the marker's meaning. The plugin knows two of them: MARK_COUNT_ON
 * and MARK_COUNT_OFF switch counting on and off, and offsets below
 * MARK_COUNT_ON are begin (even) and end (odd) markers of a section. Every
 * marker executed is written down, one line each:
 *
 *   OFFSET VCPU LINES INSNS_0 MEM_0 LOCKED_0 ... INSNS_N-1 MEM_N-1 LOCKED_N-1
 *
 * VCPU is the vCPU that executed the marker; INSNS_i, MEM_i and LOCKED_i are
 * what vCPU i has executed at kernel addresses while counting was on, since
 * QEMU started; LINES, on an end marker, the distinct lines the kernel accessed
 * since the last begin marker (0 on other markers). After an end marker's line
 * come the section's kernel translation blocks, one line each, heaviest first:
 *
 *   tb PC INSNS
 *
 * PC (hex, no 0x) is the guest virtual address where a block starts, INSNS the
 * instructions its executions counted between the begin and the end marker, on
 * any vCPU: a listing of where the section's instructions went, by block, which
 * bench-report.py maps to symbols. The first line is a header:
 * `rpm-icount 3 marker=0x... vcpus=N`.
 *
 * Counting costs a call per kernel translation block executed (the callback
 * that adds the block's instruction count to its vCPU's counter), which slows
 * the guest's kernel code. So it is off unless switched on: switching flushes
 * QEMU's translation cache (qemu_plugin_reset()), and the blocks translated
 * afterwards carry the counting callback only while counting is on. With it
 * off, only the marker page's blocks are instrumented and the guest's timings
 * are those of a guest without the plugin.
 *
 * A kernel address is one with bit 63 set (canonical addresses of the upper
 * half: 0xffff800000000000 and up under 4-level paging, 0xff00000000000000 and
 * up under 5-level). A block is counted whole when it starts executing: a block
 * left early by a fault counts instructions it did not run (rare in the kernel:
 * a fault on a user access with an exception fixup). QEMU runs each iteration
 * of a rep string instruction (memcpy, memset, copy_to_user with rep movsb) as
 * one execution of a block that holds only that instruction; a CPU retires it
 * as one instruction, so such a block counts when it is entered from another
 * block, not when it loops to itself.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define PAGE_SIZE 4096ULL
#define DEFAULT_MARKER 0x4d41524b0000ULL /* "MARK", below 2^47: a user address under either paging mode */
#define MARK_COUNT_ON 16
#define MARK_COUNT_OFF 17
#define LINE_SHIFT 6

/* Counters per vCPU, each vCPU's on a cache line of its own: only its vCPU's thread adds to them. */
struct vcpu_count {
	uint64_t insns, mem, locked;
	uint64_t last_rep; /* the rep-string block this vCPU executed last, 0 after any other */
	char pad[64 - 4 * sizeof(uint64_t)];
};

static struct vcpu_count *counts;
static int nr_vcpus;
static uint64_t marker;
static FILE *out;
static GMutex out_lock;
static qemu_plugin_id_t plugin_id;
/* Whether blocks translated from now on are to count; read by the translation callback. */
static int counting;
/* The distinct lines accessed in the current section; `in_section` says whether there is one. */
static GHashTable *lines;
static GMutex lines_lock;
static int in_section;

/*
 * A kernel translation block's count in the current section, by start address:
 * one record per address, whatever retranslations the flushes make, kept for the
 * plugin's lifetime (the kernel's blocks number a few tens of thousands).
 */
struct tb_stat {
	uint64_t pc;
	uint64_t insns; /* executed in the current section, on any vCPU */
	uint32_t n;	/* instructions of the block as last translated */
	uint32_t locked;
};

static GHashTable *tb_stats; /* pc -> struct tb_stat *, under tb_lock */
static GMutex tb_lock;

static void register_callbacks(qemu_plugin_id_t id);

/* A counter that only its own vCPU's thread adds to; the marker callback reads it from others. */
static inline void add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Runs at the start of every counted kernel block (udata: its tb_stat). */
static void kernel_block(unsigned int vcpu, void *udata)
{
	struct tb_stat *t = udata;

	if (vcpu >= (unsigned int)nr_vcpus)
		return;
	add(&counts[vcpu].insns, t->n);
	add(&counts[vcpu].locked, t->locked);
	counts[vcpu].last_rep = 0;
	if (__atomic_load_n(&in_section, __ATOMIC_RELAXED))
		__atomic_fetch_add(&t->insns, t->n, __ATOMIC_RELAXED);
}

/* A block of one rep string instruction (udata: its tb_stat): counted unless it loops to itself. */
static void rep_block(unsigned int vcpu, void *udata)
{
	struct tb_stat *t = udata;

	if (vcpu >= (unsigned int)nr_vcpus || counts[vcpu].last_rep == t->pc)
		return;
	add(&counts[vcpu].insns, 1);
	counts[vcpu].last_rep = t->pc;
	if (__atomic_load_n(&in_section, __ATOMIC_RELAXED))
		__atomic_fetch_add(&t->insns, 1, __ATOMIC_RELAXED);
}

/* The record of the block at `pc`, made on its first translation. */
static struct tb_stat *tb_stat_of(uint64_t pc, uint32_t n, uint32_t locked)
{
	struct tb_stat *t;

	g_mutex_lock(&tb_lock);
	t = g_hash_table_lookup(tb_stats, &pc);
	if (!t) {
		t = g_new0(struct tb_stat, 1);
		t->pc = pc;
		g_hash_table_insert(tb_stats, &t->pc, t);
	}
	t->n = n;
	t->locked = locked;
	g_mutex_unlock(&tb_lock);
	return t;
}

static gint by_insns_desc(gconstpointer a, gconstpointer b)
{
	const struct tb_stat *x = *(struct tb_stat *const *)a, *y = *(struct tb_stat *const *)b;

	return x->insns < y->insns ? 1 : x->insns > y->insns ? -1 : 0;
}

/* Writes the blocks the section executed, heaviest first, and zeroes their counts (under out_lock). */
static void dump_section_blocks(void)
{
	GPtrArray *seen = g_ptr_array_new();
	GHashTableIter it;
	gpointer key, value;

	g_mutex_lock(&tb_lock);
	g_hash_table_iter_init(&it, tb_stats);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		struct tb_stat *t = value;
		uint64_t insns = __atomic_exchange_n(&t->insns, 0, __ATOMIC_RELAXED);

		if (insns) {
			/* The count moves to a snapshot: a late add lands in the next section. */
			struct tb_stat *snap = g_new(struct tb_stat, 1);

			*snap = *t;
			snap->insns = insns;
			g_ptr_array_add(seen, snap);
		}
	}
	g_mutex_unlock(&tb_lock);
	g_ptr_array_sort(seen, by_insns_desc);
	for (guint i = 0; i < seen->len; i++) {
		struct tb_stat *t = g_ptr_array_index(seen, i);

		fprintf(out, "tb %" PRIx64 " %" PRIu64 "\n", t->pc, t->insns);
		g_free(t);
	}
	g_ptr_array_free(seen, TRUE);
}

/* Zeroes every block's count: a begin marker starts the section's listing afresh. */
static void clear_section_blocks(void)
{
	GHashTableIter it;
	gpointer key, value;

	g_mutex_lock(&tb_lock);
	g_hash_table_iter_init(&it, tb_stats);
	while (g_hash_table_iter_next(&it, &key, &value))
		__atomic_store_n(&((struct tb_stat *)value)->insns, 0, __ATOMIC_RELAXED);
	g_mutex_unlock(&tb_lock);
}

static void kernel_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr,
			  void *udata)
{
	uint64_t first = vaddr >> LINE_SHIFT;
	uint64_t last = (vaddr + (1ULL << qemu_plugin_mem_size_shift(info)) - 1) >> LINE_SHIFT;

	(void)udata;
	if (vcpu >= (unsigned int)nr_vcpus)
		return;
	add(&counts[vcpu].mem, 1);
	if (!__atomic_load_n(&in_section, __ATOMIC_RELAXED))
		return;
	g_mutex_lock(&lines_lock);
	for (uint64_t l = first; l <= last; l++)
		g_hash_table_add(lines, (gpointer)(uintptr_t)l);
	g_mutex_unlock(&lines_lock);
}

/* Blocks are translated afresh after the flush, with or without the counting callback. */
static void after_reset(qemu_plugin_id_t id)
{
	register_callbacks(id);
}

static void marker_hit(unsigned int vcpu, void *udata)
{
	unsigned int offset = (uintptr_t)udata;

	unsigned int nlines = 0;

	g_mutex_lock(&out_lock);
	if (!out) {
		g_mutex_unlock(&out_lock);
		return;
	}
	if (offset < MARK_COUNT_ON) {
		if (!(offset & 1))
			clear_section_blocks();
		g_mutex_lock(&lines_lock);
		if (offset & 1)
			nlines = g_hash_table_size(lines);
		g_hash_table_remove_all(lines);
		__atomic_store_n(&in_section, !(offset & 1), __ATOMIC_RELAXED);
		g_mutex_unlock(&lines_lock);
	}
	fprintf(out, "%u %u %u", offset, vcpu, nlines);
	for (int i = 0; i < nr_vcpus; i++)
		fprintf(out, " %" PRIu64 " %" PRIu64 " %" PRIu64,
			__atomic_load_n(&counts[i].insns, __ATOMIC_RELAXED),
			__atomic_load_n(&counts[i].mem, __ATOMIC_RELAXED),
			__atomic_load_n(&counts[i].locked, __ATOMIC_RELAXED));
	fputc('\n', out);
	if (offset < MARK_COUNT_ON && (offset & 1))
		dump_section_blocks();
	if (offset == MARK_COUNT_ON || offset == MARK_COUNT_OFF) {
		int want = offset == MARK_COUNT_ON;

		if (__atomic_load_n(&counting, __ATOMIC_RELAXED) != want) {
			__atomic_store_n(&counting, want, __ATOMIC_RELAXED);
			/*
			 * Asynchronous: the flush happens when every vCPU has left its
			 * current block, before this one runs another. A second reset
			 * asked for while one is pending is dropped by QEMU, which is
			 * harmless: the pending flush comes after both switches, and
			 * what is translated after it reads `counting` as it is then.
			 */
			qemu_plugin_reset(plugin_id, after_reset);
		}
		fflush(out);
	}
	g_mutex_unlock(&out_lock);
}

/*
 * What the plugin needs to know of an x86 instruction, from its bytes: whether
 * it is a locked read-modify-write (lock prefix, or xchg with a memory operand,
 * locked without one) or a rep string instruction.
 */
enum { LOCKED = 1, REP_STRING = 2 };

static unsigned int insn_kind(const uint8_t *b, size_t len)
{
	int lock = 0, rep = 0;
	size_t i = 0;
	uint8_t op;

	for (; i < len; i++) {
		if (b[i] == 0xf0)
			lock = 1;
		else if (b[i] == 0xf2 || b[i] == 0xf3)
			rep = 1;
		else if (!(b[i] == 0x66 || b[i] == 0x67 || b[i] == 0x2e || b[i] == 0x36 ||
			   b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65))
			break;
	}
	if (i < len && (b[i] & 0xf0) == 0x40) /* REX */
		i++;
	if (i >= len)
		return 0;
	op = b[i];
	if (lock || ((op == 0x86 || op == 0x87) && i + 1 < len && (b[i + 1] >> 6) != 3))
		return LOCKED;
	/* movs, cmps, stos, lods, scas */
	if (rep && ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf)))
		return REP_STRING;
	return 0;
}

/*
 * Whether instruction `i` of a block of `n` may have a memory callback. Not the
 * last one, but for a block that is one rep string instruction that stays on
 * its page. QEMU 7.2 points the vCPU at an instruction's memory callbacks when
 * the instruction calls a helper, so that accesses made inside helpers reach
 * them, and clears the pointer when the instruction ends. An instruction that
 * ends its block through a helper (ret, an indirect call or jump, any jump to
 * another page: all look their target up in one) never reaches that end, and
 * the pointer stays. Once the plugin's reset has flushed the translation cache,
 * which frees the callbacks, the next access made by a helper (an interrupt's
 * stack frame) calls freed memory: QEMU aborted with "qemu_plugin_vcpu_mem_cb:
 * code should not be reached" in the first count phase of a whole make bench.
 * Before the flush the stale pointer counted helper accesses after the block as
 * the kernel's. A rep string block jumps to itself or to the next instruction,
 * chained without a helper while that is on the block's page.
 */
static int may_watch(size_t i, size_t n, unsigned int kind, uint64_t pc, size_t size)
{
	if (i + 1 < n)
		return 1;
	return n == 1 && (kind & REP_STRING) && ((pc + size) >> 12) == (pc >> 12);
}

static void translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t pc = qemu_plugin_tb_vaddr(tb);

	(void)id;
	if (pc >> 63) {
		size_t n = qemu_plugin_tb_n_insns(tb);
		uint64_t locked = 0;
		unsigned int first = 0;

		if (!__atomic_load_n(&counting, __ATOMIC_RELAXED))
			return;
		for (size_t i = 0; i < n; i++) {
			struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
			unsigned int k = insn_kind(qemu_plugin_insn_data(insn),
						   qemu_plugin_insn_size(insn));

			if (i == 0)
				first = k;
			locked += !!(k & LOCKED);
			if (may_watch(i, n, k, qemu_plugin_insn_vaddr(insn), qemu_plugin_insn_size(insn)))
				qemu_plugin_register_vcpu_mem_cb(insn, kernel_access,
								 QEMU_PLUGIN_CB_NO_REGS,
								 QEMU_PLUGIN_MEM_RW, NULL);
		}
		if (n == 1 && (first & REP_STRING))
			qemu_plugin_register_vcpu_tb_exec_cb(tb, rep_block, QEMU_PLUGIN_CB_NO_REGS,
							     tb_stat_of(pc, 1, 0));
		else
			qemu_plugin_register_vcpu_tb_exec_cb(tb, kernel_block, QEMU_PLUGIN_CB_NO_REGS,
							     tb_stat_of(pc, n, locked));
	} else if (pc - marker < PAGE_SIZE) {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, marker_hit, QEMU_PLUGIN_CB_NO_REGS,
						     (void *)(uintptr_t)(pc - marker));
	}
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	(void)id;
	(void)udata;
	g_mutex_lock(&out_lock);
	if (out) {
		fclose(out);
		out = NULL;
	}
	g_mutex_unlock(&out_lock);
}

/* A reset drops every callback of the plugin, the exit callback too: all are registered again. */
static void register_callbacks(qemu_plugin_id_t id)
{
	qemu_plugin_register_vcpu_tb_trans_cb(id, translate);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *path = NULL;

	marker = DEFAULT_MARKER;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "outfile=", 8)) {
			path = argv[i] + 8;
		} else if (!strncmp(argv[i], "marker=", 7)) {
			marker = g_ascii_strtoull(argv[i] + 7, NULL, 0);
		} else {
			fprintf(stderr, "rpm-icount: unknown argument %s\n", argv[i]);
			return -1;
		}
	}
	if (!info->system_emulation || !path || marker % PAGE_SIZE) {
		fprintf(stderr, "rpm-icount: needs system emulation, outfile=PATH and a page-aligned marker=\n");
		return -1;
	}
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return -1;
	}
	nr_vcpus = info->system.max_vcpus;
	counts = g_new0(struct vcpu_count, nr_vcpus);
	lines = g_hash_table_new(g_direct_hash, g_direct_equal);
	tb_stats = g_hash_table_new(g_int64_hash, g_int64_equal);
	plugin_id = id;
	fprintf(out, "rpm-icount 3 marker=0x%" PRIx64 " vcpus=%d\n", marker, nr_vcpus);
	fflush(out);
	register_callbacks(id);
	return 0;
}
