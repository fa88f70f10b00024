/* SPDX-License-Identifier: MIT */
/*
 * --record: the program's container requests as a vfio-trace v1 (the
 * format `softvfio replay` reads; docs/softvfio.1 describes it).
 *
 * The first container that issues a recordable request (MAP_DMA, UNMAP_DMA,
 * DIRTY_PAGES, IOMMU_GET_INFO) is recorded; requests of other containers
 * are not (one log line says so). At exit the trace is written: "arena"
 * spanning every virtual address the program mapped, "hole" lines where
 * it mapped nothing (and where a map failed with EFAULT), then one line per
 * request, its vaddr an offset into the arena. Beside it, FILE.expected
 * holds the result lines the program got, in replay's output format, so
 * that replaying FILE can be compared with them line for line.
 *
 * Not representable, hence not recorded (one log line each): MAP_DMA with
 * FLAG_VADDR, requests that failed with EFAULT (a bad pointer).
 *
 * Threading: one mutex around the op list; requests are recorded after
 * they ran, in the order their calls returned.
 */
#ifndef SVF_PRELOAD_RECORD_H
#define SVF_PRELOAD_RECORD_H

struct svf_container;

/* path NULL or "": recording off. */
void pv_record_init(const char *path);
/* After a request on container c (key identifies it) returned rc. */
void pv_record_request(const void *key, struct svf_container *c, unsigned long request,
		       void *arg, long rc);
/* The container behind key is going away: later requests of others stay unrecorded. */
void pv_record_close(const void *key);
/* Write FILE and FILE.expected (exit). */
void pv_record_finish(void);

#endif
