/* SPDX-License-Identifier: MIT */
/*
 * The command's figures for people (tools/softvfio/bench/bench_common.c):
 * byte sizes exact or marked as rounded, never silently truncated;
 * durations, counts and ratios with three significant digits.
 */
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "bench_common.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

static void check_bytes(uint64_t v, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	svf_human_bytes(v, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_bytes_exact(void **state)
{
	(void)state;
	check_bytes(0, "0 B");
	check_bytes(1, "1 B");
	check_bytes(1023, "1023 B");
	check_bytes(KiB, "1 KiB");
	check_bytes(28 * KiB, "28 KiB");
	check_bytes(3 * KiB + 1, "3073 B");
	check_bytes(GiB + GiB / 2, "1536 MiB");
	check_bytes(16 * GiB, "16 GiB");
	check_bytes(10239 * MiB, "10239 MiB");
	check_bytes(64 * TiB, "64 TiB");
	check_bytes(20000 * TiB, "20000 TiB");
}

/* Sizes no unit holds in few digits: rounded, and the '~' says so. */
static void test_bytes_rounded(void **state)
{
	(void)state;
	check_bytes(10 * GiB + 1, "~10.0 GiB");
	check_bytes(10 * GiB + GiB / 2, "~10.5 GiB"); /* 10752 MiB */
	check_bytes(16 * GiB + 512 * MiB, "~16.5 GiB");
	check_bytes(10240 + 1, "~10.0 KiB");
	check_bytes(123456 * KiB, "~121 MiB");
	check_bytes(TiB + 1, "~1.00 TiB");
	check_bytes(UINT64_MAX, "~16777216 TiB");
}

/* A short buffer: truncated as snprintf truncates, always terminated. */
static void test_bytes_short_buffer(void **state)
{
	char buf[4] = "zzz";

	(void)state;
	svf_human_bytes(10 * GiB + 1, buf, sizeof(buf));
	assert_string_equal(buf, "~10");
	svf_human_bytes(16 * GiB, buf, sizeof(buf));
	assert_string_equal(buf, "16 ");
	buf[0] = 'z';
	svf_human_bytes(10 * GiB + 1, buf, 1);
	assert_int_equal(buf[0], '\0');
	buf[0] = 'z';
	svf_human_bytes(10 * GiB + 1, buf, 0);
	assert_int_equal(buf[0], 'z');
}

static void test_other_figures(void **state)
{
	char buf[32];

	(void)state;
	svf_human_ns(812, buf, sizeof(buf));
	assert_string_equal(buf, "812 ns");
	svf_human_ns(1.4e9, buf, sizeof(buf));
	assert_string_equal(buf, "1.40 s");
	svf_human_count(12345, buf, sizeof(buf));
	assert_string_equal(buf, "12.3k");
	svf_human_ratio(1, 2, buf, sizeof(buf));
	assert_string_equal(buf, "0.50x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_exact),
		cmocka_unit_test(test_bytes_rounded),
		cmocka_unit_test(test_bytes_short_buffer),
		cmocka_unit_test(test_other_figures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
