/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bindgen turns into walk/uapi_generated.rs (see Kbuild): the device's own
 * header and the PAGEMAP_SCAN ABI of <linux/fs.h>, as user space sees them.
 */
#include <linux/fs.h>
#include "../uapi/rust_pagemap.h"
