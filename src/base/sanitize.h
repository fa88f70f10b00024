/* SPDX-License-Identifier: MIT */
/*
 * Whether AddressSanitizer instruments this translation unit: SVF_ASAN is
 * 1 or 0. GCC says so with __SANITIZE_ADDRESS__; clang 14 (the compiler of
 * the libFuzzer build) does not define that macro and answers
 * __has_feature(address_sanitizer) instead, so code that behaves
 * differently under ASan tests SVF_ASAN, never the GCC macro alone.
 */
#ifndef SVF_BASE_SANITIZE_H
#define SVF_BASE_SANITIZE_H

#if defined(__SANITIZE_ADDRESS__)
#define SVF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SVF_ASAN 1
#endif
#endif
#ifndef SVF_ASAN
#define SVF_ASAN 0
#endif

#endif
