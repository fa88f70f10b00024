/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a stream of container requests checked against the
 * reference model of model.h after every request. Two bytes choose the
 * container (backend, policy, default domain or emulated device only,
 * hardware dirty tracking, v1, the fault-injection point); the rest is
 * requests. Any disagreement or invariant failure aborts with a message.
 */
#include <stdio.h>
#include <stdlib.h>

#include <softvfio/log.h>

#include "model.h"

#define MAX_STEPS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 2, *end = data + size;
	struct svf_model_cfg cfg;
	struct svf_model *m;
	char msg[256];

	if (size < 2)
		return 0;
	svf_set_log_fn(NULL, NULL);
	svf_model_cfg_decode(data[0], data[1], &cfg);
	if (svf_model_open(&cfg, &m))
		return 0;
	for (int n = 0; p < end && n < MAX_STEPS; n++) {
		if (!svf_model_step(m, &p, end, msg, sizeof(msg))) {
			fprintf(stderr, "fuzz_container: step %d: %s\n", n, msg);
			abort();
		}
	}
	if (!svf_model_close(m, msg, sizeof(msg))) {
		fprintf(stderr, "fuzz_container: close: %s\n", msg);
		abort();
	}
	return 0;
}
