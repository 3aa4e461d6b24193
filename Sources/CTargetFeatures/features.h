// The instruction-set features this build's code may use, as Swift's Clang importer sees them.
// The importer is configured with the same target CPU as the Swift compiler (the
// `-Xswiftc -target-cpu` of the build), so these constants tell Swift code what its own
// compiled SIMD code can rely on: a build for baseline x86-64 has neither FMA nor AVX-512, even
// on a CPU that has both.
#ifndef TOUCHSTONE_TARGET_FEATURES_H
#define TOUCHSTONE_TARGET_FEATURES_H

#if defined(__FMA__) || defined(__aarch64__)
#define TOUCHSTONE_TARGET_FMA 1
#else
#define TOUCHSTONE_TARGET_FMA 0
#endif

#if defined(__AVX512F__)
#define TOUCHSTONE_TARGET_AVX512F 1
#else
#define TOUCHSTONE_TARGET_AVX512F 0
#endif

// 256-bit integer and float vectors (x86-64-v3 and later: Haswell, Zen).
#if defined(__AVX2__)
#define TOUCHSTONE_TARGET_AVX2 1
#else
#define TOUCHSTONE_TARGET_AVX2 0
#endif

// 64-bit Arm: NEON's 32 registers of four floats (Raspberry Pi 4/5, Jetson, Apple silicon).
#if defined(__aarch64__)
#define TOUCHSTONE_TARGET_AARCH64 1
#else
#define TOUCHSTONE_TARGET_AARCH64 0
#endif

// Asks for the cache line at `p` ahead of its use, into the second-level cache (locality 2): a
// hint, which never faults, whatever the address.
static inline void touchstone_prefetch(const void *p) { __builtin_prefetch(p, 0, 2); }

#endif
