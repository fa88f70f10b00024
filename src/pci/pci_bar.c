/* SPDX-License-Identifier: MIT */
/*
 * BAR region reads and writes (contract in pci.h), with vfio-pci's rules:
 * an absent BAR or ROM, or an offset at or past its end, is -EINVAL; the
 * count is clamped at the end; a memory BAR while the program's command
 * register has memory decoding off is -EIO; the ROM is read-only (-EINVAL
 * on write). The access is cut into naturally aligned pieces of 8, 4, 2 and
 * 1 bytes, each handed to the device model as one bus access, little endian
 * in the caller's buffer.
 *
 * The device model's register file is its own MAP_SHARED mapping of the
 * BAR; the helpers below reach it with relaxed atomics, because the program
 * may store into the same page through its own mapping at any time.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci.h"

uint32_t svf_pci_mem_ld32(struct svf_pci_dev *pd, int bar, uint64_t off)
{
	return __atomic_load_n((uint32_t *)(void *)(pd->bar_mem[bar] + off), __ATOMIC_RELAXED);
}

uint64_t svf_pci_mem_ld64(struct svf_pci_dev *pd, int bar, uint64_t off)
{
	return __atomic_load_n((uint64_t *)(void *)(pd->bar_mem[bar] + off), __ATOMIC_RELAXED);
}

void svf_pci_mem_st32(struct svf_pci_dev *pd, int bar, uint64_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)(pd->bar_mem[bar] + off), v, __ATOMIC_RELEASE);
}

void svf_pci_mem_st64(struct svf_pci_dev *pd, int bar, uint64_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(void *)(pd->bar_mem[bar] + off), v, __ATOMIC_RELEASE);
}

bool svf_pci_mem_cas32(struct svf_pci_dev *pd, int bar, uint64_t off, uint32_t old, uint32_t v)
{
	return __atomic_compare_exchange_n((uint32_t *)(void *)(pd->bar_mem[bar] + off), &old, v,
					   false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

bool svf_pci_mem_cas64(struct svf_pci_dev *pd, int bar, uint64_t off, uint64_t old, uint64_t v)
{
	return __atomic_compare_exchange_n((uint64_t *)(void *)(pd->bar_mem[bar] + off), &old, v,
					   false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

int svf_pci_bar_rw(struct svf_pci_dev *pd, int index, uint8_t *buf, size_t count, uint64_t pos,
		   bool write, size_t *done)
{
	uint64_t end = pd->desc.bar_size[index];
	size_t n = 0;

	*done = 0;
	if (!end || pos >= end)
		return -EINVAL;
	if (count > end - pos)
		count = (size_t)(end - pos);
	if (index == SVF_PCI_ROM_INDEX) {
		/* No model has a ROM yet: an image would be read here. */
		if (write)
			return -EINVAL;
		memset(buf, 0xff, count);
		*done = count;
		return 0;
	}
	if (!(pd->desc.bar_flags[index] & PCI_BASE_ADDRESS_SPACE_IO) && !svf_pci_mem_enabled(pd))
		return -EIO;
	while (n < count) {
		size_t left = count - n;
		uint64_t at = pos + n;
		unsigned sz = (left >= 8 && !(at % 8)) ? 8 :
			      (left >= 4 && !(at % 4)) ? 4 :
			      (left >= 2 && !(at % 2)) ? 2 : 1;
		uint64_t v = 0;

		if (write) {
			memcpy(&v, buf + n, sz);
			pd->ops->bar_write(pd, index, at, sz, v);
		} else {
			v = pd->ops->bar_read(pd, index, at, sz);
			memcpy(buf + n, &v, sz);
		}
		n += sz;
	}
	*done = n;
	return 0;
}
