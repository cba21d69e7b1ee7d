// SPDX-License-Identifier: GPL-2.0
/*
 * rpm-icount: a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts,
 * per vCPU, the guest instructions executed at kernel addresses, and writes the
 * counts of every vCPU to a file each time the guest executes an instruction on
 * the marker page, a page that selftests/bench.c maps at a fixed user address
 * and calls into around the sections it wants counted. `make bench`
 * (qemu/bench.sh) loads it and qemu/bench-report.py pairs the markers.
 *
 * Arguments: outfile=PATH (required), marker=ADDR (the marker page's guest
 * virtual address, default below; bench.c uses the same one).
 *
 * The marker page is 4096 one-byte `ret` instructions; which offset the guest
 * calls is the marker's meaning. The plugin knows two of them: MARK_COUNT_ON
 * and MARK_COUNT_OFF switch counting on and off. Everything else is only
 * written down, one line per marker executed:
 *
 *   OFFSET VCPU COUNT_0 COUNT_1 ... COUNT_N-1
 *
 * VCPU is the vCPU that executed the marker, COUNT_i the kernel instructions
 * vCPU i has executed while counting was on, since QEMU started. The first line
 * is a header: `rpm-icount 1 marker=0x... vcpus=N`.
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
 * a fault on a user access with an exception fixup).
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

/* One counter per vCPU, each on a cache line of its own: only its vCPU's thread adds to it. */
struct vcpu_count {
	uint64_t insns;
	char pad[64 - sizeof(uint64_t)];
};

static struct vcpu_count *counts;
static int nr_vcpus;
static uint64_t marker;
static FILE *out;
static GMutex out_lock;
static qemu_plugin_id_t plugin_id;
/* Whether blocks translated from now on are to count; read by the translation callback. */
static int counting;

static void register_callbacks(qemu_plugin_id_t id);

/* Runs at the start of every counted kernel block: its vCPU's own counter only. */
static void kernel_block(unsigned int vcpu, void *udata)
{
	uint64_t n = (uintptr_t)udata;

	if (vcpu < (unsigned int)nr_vcpus)
		__atomic_store_n(&counts[vcpu].insns,
				 __atomic_load_n(&counts[vcpu].insns, __ATOMIC_RELAXED) + n,
				 __ATOMIC_RELAXED);
}

/* Blocks are translated afresh after the flush, with or without the counting callback. */
static void after_reset(qemu_plugin_id_t id)
{
	register_callbacks(id);
}

static void marker_hit(unsigned int vcpu, void *udata)
{
	unsigned int offset = (uintptr_t)udata;

	g_mutex_lock(&out_lock);
	if (!out) {
		g_mutex_unlock(&out_lock);
		return;
	}
	fprintf(out, "%u %u", offset, vcpu);
	for (int i = 0; i < nr_vcpus; i++)
		fprintf(out, " %" PRIu64, __atomic_load_n(&counts[i].insns, __ATOMIC_RELAXED));
	fputc('\n', out);
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

static void translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t pc = qemu_plugin_tb_vaddr(tb);

	(void)id;
	if (pc >> 63) {
		if (__atomic_load_n(&counting, __ATOMIC_RELAXED))
			qemu_plugin_register_vcpu_tb_exec_cb(tb, kernel_block, QEMU_PLUGIN_CB_NO_REGS,
							     (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
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
	plugin_id = id;
	fprintf(out, "rpm-icount 1 marker=0x%" PRIx64 " vcpus=%d\n", marker, nr_vcpus);
	fflush(out);
	register_callbacks(id);
	return 0;
}
