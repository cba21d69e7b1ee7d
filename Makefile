# SPDX-License-Identifier: GPL-2.0
#
# make              build rust_pagemap.ko against the test kernel (built on first use)
# make KDIR=DIR     build it against another Rust-enabled kernel build directory
# make CLIPPY=1     build with clippy (lints as errors are warnings here)
# make [KDIR=DIR] install   modules_install into that kernel's module tree
#                   (INSTALL_MOD_PATH=ROOT to stage it under ROOT), then depmod
# make run          set up, build, boot the VM, load the module and show it at work
# make check        the whole suite under QEMU (4- and 5-level paging); exit status = verdict
#                   (RPM_SLOW=1 make check: the same with guests about twice slower)
# make mutants      mutate the module one bug at a time; each must make a named test fail
#                   (MUTANTS="name ..." runs only those; not part of make check: it takes long)
# make bench        device vs kernel timings on the performance kernel -> build/bench/
# make -s kdir      print the test kernel's build directory
# make -s kernel-path  print the test kernel's bzImage

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

KDIR ?=

.PHONY: all module install run check mutants bench kdir kernel-path clean

all: module

module:
	@kdir="$(KDIR)"; \
	if [ -z "$$kdir" ]; then bash qemu/kernel/setup-toolchain.sh && kdir=$$(bash qemu/kernel/build-kernel.sh) || exit 1; fi; \
	bash qemu/kernel/build-module.sh "$$kdir" $(if $(CLIPPY),CLIPPY=$(CLIPPY))

install: module
	@kdir="$(KDIR)"; \
	if [ -z "$$kdir" ]; then kdir=$$(bash qemu/kernel/build-kernel.sh) || exit 1; fi; \
	bash qemu/kernel/build-module.sh "$$kdir" $(if $(INSTALL_MOD_PATH),INSTALL_MOD_PATH=$(INSTALL_MOD_PATH)) \
		modules_install

run:
	@bash qemu/verdict/run.sh demo

check:
	@bash qemu/verdict/run.sh check

mutants:
	@python3 qemu/verdict/mutants.py $(MUTANTS)

bench:
	@bash qemu/bench/bench.sh

kdir:
	@bash qemu/kernel/setup-toolchain.sh && bash qemu/kernel/build-kernel.sh

kernel-path:
	@bash qemu/kernel/setup-toolchain.sh && echo "$$(bash qemu/kernel/build-kernel.sh)/arch/x86/boot/bzImage"

clean:
	rm -rf build *.o *.ko *.mod *.mod.c *.mod.o .*.cmd modules.order Module.symvers .tmp_versions \
		walk/uapi_generated.rs walk/.uapi_generated.rs.cmd .uapi-bindgen

endif
