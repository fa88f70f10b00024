/* SPDX-License-Identifier: MIT */
/*
 * AMD-Vi commands: the 128-bit encodings the driver writes into the command
 * buffer and the decoding the unit applies (AMD I/O Virtualization
 * Technology specification, "Commands"; Linux's build_* helpers in
 * drivers/iommu/amd/iommu.c write the same fields).
 *
 * Layout: the opcode is in bits 28..31 of word 1.
 *   COMPLETION_WAIT        w0 = store address bits 3..31 | S (bit 0, store),
 *                          w1 = store address bits 32..51, w2/w3 = the 64-bit
 *                          value stored when every earlier command is done.
 *   INVALIDATE_DEVTAB_ENTRY w0 = device id.
 *   INVALIDATE_IOMMU_PAGES w1 = domain id, w2 = address bits 12..31 | S (bit
 *                          0) | PDE (bit 1), w3 = address bits 32..63.
 *   INVALIDATE_IOMMU_ALL   nothing but the opcode.
 *
 * Size in the address (S set): the range is the naturally aligned block of
 * 2 << k bytes containing the address, k being the first zero address bit
 * at or above 12; the "every page" address 0x7ffffffffffff000 therefore
 * covers everything. S clear: the one 4 KiB page at the address.
 */
#include <string.h>

#include "amd.h"

static inline unsigned fls64_index(uint64_t x) /* x != 0: index of the top set bit */
{
	return 63u - (unsigned)__builtin_clzll(x);
}

uint64_t svf_amd_inv_address(uint64_t start, uint64_t last)
{
	uint64_t addr = start & ~0xfffull;
	unsigned msb;

	if ((start >> 12) == (last >> 12))
		return addr; /* one page, S clear */
	msb = fls64_index(start ^ last);
	if (msb > 51)
		return SVF_AMD_INV_ALL_ADDR | SVF_AMD_INV_S;
	/* Bit msb is clear in start (start < last); ones below it name the size. */
	addr = (start | ((1ull << msb) - 1)) & ~0xfffull;
	return addr | SVF_AMD_INV_S;
}

static inline void set_op(struct svf_amd_cmd *c, unsigned op)
{
	c->w[1] |= (uint32_t)op << 28;
}

struct svf_amd_cmd svf_amd_cmd_inv_pages(uint16_t domid, uint64_t inv_address, bool pde)
{
	struct svf_amd_cmd c = { { 0 } };

	c.w[1] = domid;
	c.w[2] = (uint32_t)(inv_address & 0xfffff000u) | (uint32_t)(inv_address & SVF_AMD_INV_S);
	c.w[3] = (uint32_t)(inv_address >> 32);
	if (pde)
		c.w[2] |= SVF_AMD_INV_PDE;
	set_op(&c, SVF_AMD_CMD_INV_IOMMU_PAGES);
	return c;
}

struct svf_amd_cmd svf_amd_cmd_inv_devtab(uint16_t devid)
{
	struct svf_amd_cmd c = { { 0 } };

	c.w[0] = devid;
	set_op(&c, SVF_AMD_CMD_INV_DEVTAB_ENTRY);
	return c;
}

struct svf_amd_cmd svf_amd_cmd_inv_all(void)
{
	struct svf_amd_cmd c = { { 0 } };

	set_op(&c, SVF_AMD_CMD_INV_IOMMU_ALL);
	return c;
}

struct svf_amd_cmd svf_amd_cmd_completion_wait(uint64_t store_addr, uint64_t data)
{
	struct svf_amd_cmd c = { { 0 } };

	c.w[0] = (uint32_t)(store_addr & 0xfffffff8u) | SVF_AMD_CW_STORE;
	c.w[1] = (uint32_t)((store_addr >> 32) & 0xfffffu);
	c.w[2] = (uint32_t)data;
	c.w[3] = (uint32_t)(data >> 32);
	set_op(&c, SVF_AMD_CMD_COMPLETION_WAIT);
	return c;
}

void svf_amd_cmd_decode(const struct svf_amd_cmd *c, struct svf_amd_cmd_info *out)
{
	memset(out, 0, sizeof(*out));
	out->op = (uint8_t)(c->w[1] >> 28);
	switch (out->op) {
	case SVF_AMD_CMD_COMPLETION_WAIT:
		out->store = c->w[0] & SVF_AMD_CW_STORE;
		out->store_addr = ((uint64_t)(c->w[1] & 0xfffffu) << 32) | (c->w[0] & 0xfffffff8u);
		out->store_data = ((uint64_t)c->w[3] << 32) | c->w[2];
		break;
	case SVF_AMD_CMD_INV_DEVTAB_ENTRY:
		out->devid = (uint16_t)c->w[0];
		break;
	case SVF_AMD_CMD_INV_IOMMU_PAGES: {
		uint64_t addr = ((uint64_t)c->w[3] << 32) | (c->w[2] & 0xfffff000u);

		out->domid = (uint16_t)c->w[1];
		out->s = c->w[2] & SVF_AMD_INV_S;
		out->pde = c->w[2] & SVF_AMD_INV_PDE;
		if (!out->s) {
			out->first = addr;
			out->last = addr + 0xfff;
		} else {
			unsigned k = (unsigned)__builtin_ctzll(~(addr | 0xfffull));

			if (k >= 63) {
				out->first = 0;
				out->last = UINT64_MAX;
			} else {
				uint64_t size = 2ull << k;

				out->first = addr & ~(size - 1);
				out->last = out->first + size - 1;
			}
		}
		break;
	}
	default:
		break;
	}
}

uint64_t svf_amd_flush_block(uint64_t addr, uint64_t size)
{
	unsigned size_lg = fls64_index(size);

	if (addr) {
		unsigned addr_lg = (unsigned)__builtin_ctzll(addr);

		if (addr_lg < size_lg)
			return 1ull << addr_lg;
	}
	return 1ull << size_lg;
}
