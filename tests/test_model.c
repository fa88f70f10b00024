/* SPDX-License-Identifier: MIT */
/*
 * Model-based random test: seeded random request streams (map, unmap with
 * every flag and bitmap shape, dirty start/stop/get, get-info, emulated
 * pins) against the plain reference model of fuzz/model.h, on every flush
 * policy, both pinning backends, with and without the default IOMMU
 * domain, with hardware dirty tracking and on v1, while a device thread
 * does DMA at the same IOVAs. Reproducible: each run prints its seed, and
 * SOFTVFIO_MODEL_SEED=N reruns one. SOFTVFIO_TEST_SCALE=valgrind runs
 * fewer steps (same checks).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <softvfio/device.h>

#include "helpers.h"
#include "model.h"

#define STREAM 4096

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

struct traffic {
	uint64_t rng;
	unsigned n;
};

/* The device's own traffic: reads and writes at the IOVAs the model maps. */
static bool traffic_source(void *opaque, unsigned thread, struct svf_dma_req *req)
{
	struct traffic *t = opaque;
	uint64_t r = rng_next(&t->rng);

	(void)thread;
	memset(req, 0, sizeof(*req));
	req->access = r & 1 ? SVF_PROT_WRITE : SVF_PROT_READ;
	req->iova = 0x100000 + ((r >> 8) % 256) * 4096;
	req->len = 4096 * (1 + ((r >> 20) % 4));
	req->byte = (uint8_t)(r >> 32);
	t->n++;
	return true;
}

static void traffic_complete(void *opaque, unsigned thread, struct svf_dma_req *req)
{
	(void)opaque;
	(void)thread;
	(void)req;
}

static unsigned steps(void)
{
	const char *s = getenv("SOFTVFIO_TEST_SCALE");

	return s && !strcmp(s, "valgrind") ? 150 : 1500;
}

static void run_one(const struct svf_model_cfg *cfg, uint64_t seed)
{
	uint8_t *stream = malloc(STREAM);
	struct svf_device_config dc = { .threads = 1, .source = traffic_source,
					.complete = traffic_complete };
	struct traffic tr = { .rng = seed * 2654435761u + 1 };
	struct svf_device *dev = NULL;
	struct svf_model *m;
	uint64_t rng = seed;
	char msg[256];

	assert_non_null(stream);
	assert_int_equal(svf_model_open(cfg, &m), 0);
	if (cfg->default_domain) {
		dc.opaque = &tr;
		assert_int_equal(svf_device_create(svf_model_container(m), &dc, &dev), 0);
	}
	for (unsigned done = 0; done < steps();) {
		const uint8_t *p = stream, *end = stream + STREAM;

		for (size_t i = 0; i < STREAM; i++) {
			uint64_t r = rng_next(&rng);

			/* Favour maps and unmaps of small slots so that the set fills and empties. */
			stream[i] = (uint8_t)((r >> 24) % ((i % 5) == 1 ? 48 : 256));
		}
		while (p < end - 8 && done < steps()) {
			if (!svf_model_step(m, &p, end, msg, sizeof(msg)))
				fail_msg("seed %" PRIu64 " step %u: %s", seed, done, msg);
			done++;
		}
	}
	svf_device_destroy(dev);
	if (!svf_model_close(m, msg, sizeof(msg)))
		fail_msg("seed %" PRIu64 " close: %s", seed, msg);
	free(stream);
}

static void test_model(void **state)
{
	const char *env = getenv("SOFTVFIO_MODEL_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 20261201;
	unsigned n = 0;

	(void)state;
	for (int pol = 0; pol < SVF_POLICY_NR; pol++) {
		for (int var = 0; var < 6; var++) {
			struct svf_model_cfg cfg = { .policy = (enum svf_policy)pol };

			cfg.backend = var & 1 ? SVF_BACKEND_PROCESS : SVF_BACKEND_SYNTHETIC;
			cfg.default_domain = var != 2 && var != 3;
			cfg.emulated = !cfg.default_domain || var == 4;
			cfg.hw_dirty = var == 5;
			cfg.v1 = var == 4 && pol == SVF_POLICY_STRICT;
			print_message("model: seed %" PRIu64 " policy %s, %s, %s%s%s%s\n", seed + n,
				      svf_policy_name(cfg.policy),
				      cfg.backend == SVF_BACKEND_PROCESS ? "process" : "synthetic",
				      cfg.default_domain ? "domain + device DMA" : "no domain",
				      cfg.emulated ? ", emulated device" : "",
				      cfg.hw_dirty ? ", hw dirty" : "", cfg.v1 ? ", v1" : "");
			run_one(&cfg, seed + n);
			n++;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
