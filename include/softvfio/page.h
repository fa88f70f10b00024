/* SPDX-License-Identifier: MIT */
/*
 * The page: the unit of every softvfio interface. IOVAs, virtual and
 * physical addresses, sizes, pins, bitmaps and counters are in 4 KiB pages
 * (larger IOMMU page sizes are multiples of it). The one definition of the
 * page size; the emulated VT-d's own 4 KiB page (its page-table geometry)
 * is checked against it.
 */
#ifndef SOFTVFIO_PAGE_H
#define SOFTVFIO_PAGE_H

#define SVF_PAGE_SHIFT 12
#define SVF_PAGE_SIZE  (1ULL << SVF_PAGE_SHIFT)

#endif
