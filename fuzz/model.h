/* SPDX-License-Identifier: MIT */
/*
 * A plain reference model of a type1 container, and a driver that decodes
 * a byte stream into container requests (map, unmap with every flag and
 * bitmap shape, dirty start/stop/get, get-info with any argsz, emulated
 * device pins) and checks the container against the model after each.
 *
 * The model is a sorted array of {iova, size} mappings plus whether dirty
 * tracking is on. For each request it predicts what Linux's type1 answers
 * for the arguments the decoder can produce (0, EEXIST, EINVAL from the
 * bisect rule, the size an unmap returns, DMA_AVAIL) and which pages a
 * dirty report may or must show. After each request the container's own
 * checker must pass, the mapping count must match, and locked memory must
 * equal the pages pinned. At the end everything is unmapped and the
 * pinner must hold nothing.
 *
 * With the fault-injection seam armed, requests may fail anywhere; the
 * model then stops predicting results (the state may legitimately differ,
 * a failed unmap leaves part of a mapping) but the invariants and the final
 * "nothing pinned" still hold.
 *
 * Shared by the libFuzzer target (fuzz_container.c) and the seeded
 * model-based test in the unit suite (tests/test_model.c).
 */
#ifndef SOFTVFIO_FUZZ_MODEL_H
#define SOFTVFIO_FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvfio/softvfio.h>

struct svf_model_cfg {
	enum svf_policy policy;
	enum svf_backend backend;
	bool default_domain; /* attach the container's own IOMMU domain */
	bool emulated;       /* attach an emulated (mdev-like) device */
	bool hw_dirty;       /* the IOMMU tracks dirtiness */
	bool v1;             /* VFIO_TYPE1_IOMMU instead of v2 */
	uint64_t fault_nth;  /* arm the seam at this point (0: never) */
};

struct svf_model;

/* Build the container for cfg. 0 or -errno (nothing left behind). */
int svf_model_open(const struct svf_model_cfg *cfg, struct svf_model **out);
/*
 * Decode and run one request from *data (advancing it; bytes past the end
 * read as 0) and check it. Returns false, with a message in msg, when the
 * container disagrees with the model or an invariant fails.
 */
bool svf_model_step(struct svf_model *m, const uint8_t **data, const uint8_t *end, char *msg,
		    size_t msglen);
/* Unmap everything, destroy, check nothing is pinned. false + msg on a violation. */
bool svf_model_close(struct svf_model *m, char *msg, size_t msglen);
/* The container (for a concurrent device). */
struct svf_container *svf_model_container(struct svf_model *m);
/* Decode a configuration from two bytes. */
void svf_model_cfg_decode(uint8_t b0, uint8_t b1, struct svf_model_cfg *cfg);

#endif
