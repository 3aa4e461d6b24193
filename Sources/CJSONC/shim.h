// json-c's public API (pkg-config json-c adds its include directory).
#include <json.h>

// glibc's malloc_trim, which Swift's Glibc module does not export: gives the heap's free pages
// back to the system (JSONStream calls it while decoding large weight files).
#if defined(__GLIBC__)
#include <malloc.h>
static inline void touchstone_trim_heap(void) { malloc_trim(0); }
#else
static inline void touchstone_trim_heap(void) {}
#endif
