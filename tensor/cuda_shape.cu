/*
** cuda_shape.cu -- the CUDA kernels of the shape ops (tensor/shape.c): the
** strided copy that every transpose, permute, expand, tile, cat, stack and
** narrow is, and the masks by position (tril, triu).
**
** shape.c has checked everything and coalesced the walk (backend.h), so a
** batched transpose arrives as 2 or 3 dims.  Two kernels copy:
**   tiled_copy    where one dim `a` is contiguous in src and the last dim
**                 `b` in dst, but not the same dim (a transpose): a 32x32
**                 tile is read into shared memory along a, coalesced, and
**                 written out along b, coalesced.  The tile has 33 columns
**                 so that a warp reading one of its columns hits 32
**                 different banks (M. Harris, "An efficient matrix
**                 transpose in CUDA C/C++", NVIDIA developer blog, 2013).
**   strided_copy  any other walk: one thread per element, which turns its
**                 flat index into the two offsets (a division per dim).
** Elements move as 4-byte words: either dtype, bit for bit.
*/
#include "cuda_util.cuh"
extern "C" {
#include "backend.h"
}
#include "shape_math.h"

#define TILE 32
#define TILE_ROWS 8      /* 32 x 8 threads: each moves 4 elements of a tile */

/* The two offsets of flat item i of the dims `dims` (the last fastest). */
static __device__ __forceinline__ void offsets (const nn_strided &s, const int *dims, int m,
                                                int64_t i, int64_t *d_off, int64_t *s_off) {
  int64_t d = 0, r = 0;
  for (int j = m - 1; j >= 0; j--) {
    int k = dims[j];
    int64_t q = i % s.shape[k];
    i /= s.shape[k];
    d += q * s.dst_stride[k];
    r += q * s.src_stride[k];
  }
  *d_off = d;
  *s_off = r;
}

/* One thread per element. */
static __global__ void strided_copy_kernel (uint32_t *dst, const uint32_t *src, nn_strided s,
                                            size_t n) {
  int dims[NN_STRIDED_MAXDIM];
  for (int j = 0; j < s.ndim; j++) dims[j] = j;
  GRID_STRIDE(i, n) {
    int64_t d, r;
    offsets(s, dims, s.ndim, (int64_t)i, &d, &r);
    dst[d] = src[r];
  }
}

/* Tile (outer o, a0.., b0..): blocks take tiles in a grid-stride loop over
** all outer x ta x tb tiles, so any size fits in one launch. */
static __global__ void tiled_copy_kernel (uint32_t *dst, const uint32_t *src, nn_strided s,
                                          int a, size_t tiles) {
  __shared__ uint32_t tile[TILE][TILE + 1];
  int b = s.ndim - 1, dims[NN_STRIDED_MAXDIM], m = 0;
  for (int j = 0; j < b; j++) if (j != a) dims[m++] = j;
  int64_t na = s.shape[a], nb = s.shape[b];
  int64_t ta = (na + TILE - 1) / TILE, tb = (nb + TILE - 1) / TILE;
  int64_t dsa = s.dst_stride[a], ssb = s.src_stride[b];
  for (size_t w = blockIdx.x; w < tiles; w += gridDim.x) {
    int64_t o = (int64_t)w / (ta * tb), t = (int64_t)w % (ta * tb);
    int64_t a0 = (t / tb) * TILE, b0 = (t % tb) * TILE;
    int64_t d_off, s_off;
    offsets(s, dims, m, o, &d_off, &s_off);
    /* read: threadIdx.x runs along a, contiguous in src */
    int64_t i = a0 + threadIdx.x;
    for (int r = threadIdx.y; r < TILE; r += TILE_ROWS) {
      int64_t j = b0 + r;
      if (i < na && j < nb) tile[r][threadIdx.x] = src[s_off + i + j * ssb];
    }
    __syncthreads();
    /* write: threadIdx.x runs along b, contiguous in dst */
    int64_t j = b0 + threadIdx.x;
    for (int r = threadIdx.y; r < TILE; r += TILE_ROWS) {
      int64_t ii = a0 + r;
      if (ii < na && j < nb) dst[d_off + ii * dsa + j] = tile[threadIdx.x][r];
    }
    __syncthreads();   /* the tile is rewritten by the next iteration */
  }
}

extern "C" int cuda_strided_copy (float *dstf, const float *srcf, const nn_strided *s) {
  uint32_t *dst = (uint32_t *)(void *)dstf;
  const uint32_t *src = (const uint32_t *)(const void *)srcf;
  size_t n = 1;
  for (int d = 0; d < s->ndim; d++) n *= (size_t)s->shape[d];
  if (n == 0) return NN_OK;
  int b = s->ndim - 1, a = -1;
  for (int d = 0; d < b; d++) if (s->src_stride[d] == 1) a = d;
  if (b >= 1 && a >= 0 && s->dst_stride[b] == 1 && s->src_stride[b] != 1) {
    size_t na = (size_t)s->shape[a], nb = (size_t)s->shape[b];
    size_t tiles = n / (na * nb) * ((na + TILE - 1) / TILE) * ((nb + TILE - 1) / TILE);
    int rc = cuda_ready();
    if (rc != NN_OK) return rc;
    cuda_shape shape = { dim3(cuda_grid(tiles)), dim3(TILE, TILE_ROWS) };
    return cuda_run(shape, tiled_copy_kernel, dst, src, *s, a, tiles);
  }
  return cuda_run(n, strided_copy_kernel, dst, src, *s, n);
}

/* --- tril, triu ----------------------------------------------------------------- */

static __global__ void tri_kernel (uint32_t *out, const uint32_t *x, size_t n, size_t rows,
                                   size_t cols, int64_t k, int upper) {
  GRID_STRIDE(i, n) {
    int64_t r = (int64_t)((i / cols) % rows), c = (int64_t)(i % cols);
    out[i] = nn_tri_keep(r, c, k, upper) ? x[i] : 0u;
  }
}

extern "C" int cuda_tri (float *out, const float *x, size_t batch, size_t rows, size_t cols,
                         int64_t k, int upper) {
  size_t n = batch * rows * cols;
  if (n == 0) return NN_OK;
  return cuda_run(n, tri_kernel, (uint32_t *)(void *)out, (const uint32_t *)(const void *)x, n,
                  rows, cols, k, upper);
}
