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

#endif
