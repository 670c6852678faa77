/*
** join.h -- the CUDA launcher that Concat's pair (join.c) copies its
** blocks with.
*/
#ifndef NN_JOIN_H
#define NN_JOIN_H

#include "nn_cuda.h"

/* dst (rows, cols), rows dst_ld floats apart <- src, rows src_ld apart:
** one thread per element.  Device pointers. */
NN_CUDA_FN(int nncuda_copy_2d (float *dst, int64_t dst_ld, const float *src, int64_t src_ld,
                               int64_t rows, int64_t cols))

#endif
