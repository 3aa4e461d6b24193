// OpenBLAS's CBLAS header: cblas_sgemm, cblas_dgemm and openblas_set_num_threads.
#include <cblas.h>
