/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the vfio-trace parser and replayer. The first byte
 * chooses how the container is built (policy, backend, check modes,
 * hardware dirty tracking); the rest is the trace text. A trace that does
 * not parse is the parser's to reject (it must not crash either); one that
 * parses is replayed to its end. Results go to /dev/null: what the fuzzer
 * looks for is a crash, a sanitizer report, a leak or a hang.
 *
 * Budget: traces whose arena or largest request passes 64 MiB are replayed
 * on the synthetic backend (no memory behind it), and past 1 GiB not at
 * all, so that a run measures the code rather than memset.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <softvfio/log.h>

#include "replay.h"

#define REAL_MAX (64ULL << 20)
#define WALK_MAX (1ULL << 30)

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svf_tool_config cfg;
	struct svf_trace *t = NULL;
	uint64_t foot;
	uint8_t sel;

	if (!size)
		return 0;
	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		svf_set_log_fn(NULL, NULL); /* the library's messages are not findings */
		if (!devnull)
			abort();
	}
	sel = data[0];
	if (svf_trace_parse((const char *)data + 1, size - 1, devnull, &t))
		return 0;
	foot = svf_trace_footprint(t);
	if (foot > WALK_MAX) {
		svf_trace_free(t);
		return 0;
	}
	svf_tool_default_config(&cfg);
	cfg.policy = (enum svf_policy)(sel & 3);
	cfg.backend = (sel & 4) || foot > REAL_MAX ? SVF_BACKEND_SYNTHETIC : SVF_BACKEND_PROCESS;
	cfg.layout = (enum svf_layout)((sel >> 6) & 3);
	cfg.dma_check = sel & 8;
	cfg.hw_dirty = sel & 16;
	cfg.check_unpin = sel & 32;
	cfg.cost = 0; /* no modelled invalidation latency */
	(void)svf_trace_replay(t, &cfg, devnull, devnull, NULL);
	svf_trace_free(t);
	return 0;
}
