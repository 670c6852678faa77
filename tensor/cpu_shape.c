/*
** cpu_shape.c -- the CPU loops of the shape ops: one strided copy, and the
** masks by position.  Elements move as 4-byte words (uint32_t), so either
** dtype passes bit for bit.
**
** A transpose is the hard case of a copy: read along a row, and the writes
** go down a column, one cache line per element; read down a column, and
** the reads do.  So the copy goes by tiles of TILE x TILE elements, which
** sit in L1 together: each line of both is brought in once and used
** whole (the blocked transpose of llm.c's and every BLAS's packing;
** Lam, Rothberg & Wolf, "The cache performance and optimizations of
** blocked algorithms", ASPLOS 1991).  Tiles are independent: OpenMP takes
** them in parallel when there are enough elements to pay for the threads.
*/
#include <string.h>
#if defined(__SSE2__)
#include <xmmintrin.h>   /* _MM_TRANSPOSE4_PS: SSE, in every x86-64 */
#endif

#include "backend.h"
#include "shape_math.h"

/* 32 x 32 words: 4 KiB read + 4 KiB written, well inside L1.  16 and 64
** measured no better than 32 within the noise of this shared 2-core VM. */
#define TILE 32
/* below this many elements one thread does the whole copy */
#define PAR_MIN (1 << 16)
/* the side of a block of tiles that one thread takes (see below) */
#define SUPER 256
/* rows ahead that tile_copy prefetches */
#define PF 8

/* The offsets of outer item `o` over the dims in `dims` (count m), the last
** of them varying fastest. */
static void outer_offsets (const nn_strided *s, const int *dims, int m, int64_t o,
                           int64_t *dst_off, int64_t *src_off) {
  int64_t d_off = 0, s_off = 0;
  for (int j = m - 1; j >= 0; j--) {
    int d = dims[j];
    int64_t i = o % s->shape[d];
    o /= s->shape[d];
    d_off += i * s->dst_stride[d];
    s_off += i * s->src_stride[d];
  }
  *dst_off = d_off;
  *src_off = s_off;
}

/* One tile: dst[i dsa + j] = src[i + j ssb] for i in a0..a1-1, j in
** b0..b1-1 (dst is contiguous along j, src along i).  Blocks of 4 x 4 go
** through four SSE registers (_MM_TRANSPOSE4_PS: 4 loads of 16 bytes, 8
** shuffles, 4 stores), a quarter of the loads and stores of the element
** loop, which does the edges.  Each 4-byte word moves as a float's bits:
** a load and a store, no arithmetic, so an int32 or a nan passes unchanged.
** Measured on a 2048 x 2048 transpose, one thread, best of 15, in a
** standalone test on this shared VM: 8.6 ms by elements, 7.2 ms by 4 x 4. */
static void tile_copy (uint32_t *dst, const uint32_t *src, int64_t a0, int64_t a1,
                       int64_t b0, int64_t b1, int64_t dsa, int64_t ssb) {
  int64_t j = b0;
#if defined(__SSE2__)
  int64_t a4 = a0 + ((a1 - a0) & ~(int64_t)3);
  for (; j + 4 <= b1; j += 4) {
    /* the rows of the next 4-row block: each is on a page of its own
       (ssb apart), where the hardware prefetcher does not follow */
    for (int64_t r = j + PF; r < j + PF + 4 && r < b1; r++)
      for (int64_t i = a0; i < a1; i += 16)
        _mm_prefetch((const char *)(src + i + r * ssb), _MM_HINT_T0);
    for (int64_t i = a0; i < a4; i += 4) {
      const float *p = (const float *)(const void *)(src + i + j * ssb);
      __m128 r0 = _mm_loadu_ps(p), r1 = _mm_loadu_ps(p + ssb);
      __m128 r2 = _mm_loadu_ps(p + 2 * ssb), r3 = _mm_loadu_ps(p + 3 * ssb);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      float *q = (float *)(void *)(dst + i * dsa + j);
      _mm_storeu_ps(q, r0);
      _mm_storeu_ps(q + dsa, r1);
      _mm_storeu_ps(q + 2 * dsa, r2);
      _mm_storeu_ps(q + 3 * dsa, r3);
    }
    for (int64_t i = a4; i < a1; i++)        /* the last 0-3 of a */
      for (int64_t jj = j; jj < j + 4; jj++) dst[i * dsa + jj] = src[i + jj * ssb];
  }
#endif
  for (int64_t i = a0; i < a1; i++)          /* the last 0-3 of b, or all without SSE */
    for (int64_t jj = j; jj < b1; jj++) dst[i * dsa + jj] = src[i + jj * ssb];
}

#if defined(__x86_64__) && defined(__GNUC__)
/* tile_copy by 8 x 8 blocks in eight AVX2 registers (unpack, shuffle,
** permute: the 8x8 float transpose of Intel's optimization manual), for
** the part of the tile that 8 divides; tile_copy does the rest.  Compiled
** for AVX2 whatever -march says, and called only when the CPU has it
** (__builtin_cpu_supports).  Measured in a standalone test, 2048 x 2048,
** one thread, best of 15: 3.3 ms against 4.7 ms by SSE 4 x 4. */
#define HAVE_AVX2_TILE 1
#include <immintrin.h>
__attribute__((target("avx2")))
static void tile_copy_avx2 (uint32_t *dst, const uint32_t *src, int64_t a0, int64_t a1,
                            int64_t b0, int64_t b1, int64_t dsa, int64_t ssb) {
  int64_t a8 = a0 + ((a1 - a0) & ~(int64_t)7), b8 = b0 + ((b1 - b0) & ~(int64_t)7);
  for (int64_t j = b0; j < b8; j += 8) {
    for (int64_t i = a0; i < a8; i += 8) {
      const float *p = (const float *)(const void *)(src + i + j * ssb);
      __m256 r0 = _mm256_loadu_ps(p), r1 = _mm256_loadu_ps(p + ssb);
      __m256 r2 = _mm256_loadu_ps(p + 2 * ssb), r3 = _mm256_loadu_ps(p + 3 * ssb);
      __m256 r4 = _mm256_loadu_ps(p + 4 * ssb), r5 = _mm256_loadu_ps(p + 5 * ssb);
      __m256 r6 = _mm256_loadu_ps(p + 6 * ssb), r7 = _mm256_loadu_ps(p + 7 * ssb);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float *q = (float *)(void *)(dst + i * dsa + j);
      _mm256_storeu_ps(q, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(q + dsa, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(q + 2 * dsa, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(q + 3 * dsa, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(q + 4 * dsa, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(q + 5 * dsa, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(q + 6 * dsa, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(q + 7 * dsa, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
  if (a8 < a1) tile_copy(dst, src, a8, a1, b0, b8, dsa, ssb);   /* the last 0-7 of a */
  if (b8 < b1) tile_copy(dst, src, a0, a1, b8, b1, dsa, ssb);   /* the last 0-7 of b */
}
#endif

int cpu_strided_copy (float *dstf, const float *srcf, const nn_strided *s) {
  uint32_t *dst = (uint32_t *)(void *)dstf;
  const uint32_t *src = (const uint32_t *)(const void *)srcf;
  int n = s->ndim;
  if (n == 0) { dst[0] = src[0]; return NN_OK; }
  int64_t total = 1;
  for (int d = 0; d < n; d++) total *= s->shape[d];
  if (total == 0) return NN_OK;
  int b = n - 1;                       /* the innermost dim */
  int64_t nb = s->shape[b], dsb = s->dst_stride[b], ssb = s->src_stride[b];
  int a = -1;                          /* a dim read contiguously, if not b */
  for (int d = 0; d < b; d++) if (s->src_stride[d] == 1) a = d;

  if (dsb == 1 && a >= 0 && ssb != 1) {
    /* the transpose: tile dims a (contiguous in src) and b (in dst) */
    int dims[NN_STRIDED_MAXDIM], m = 0;
    for (int d = 0; d < b; d++) if (d != a) dims[m++] = d;
    int64_t na = s->shape[a], dsa = s->dst_stride[a];
    /* blocks of SUPER x SUPER, each in tiles of TILE x TILE, a block to a
       thread: a block reads SUPER rows of src and writes SUPER rows of
       dst, 2 x 256 pages, which the TLB holds; walking the tiles of a
       whole 2048-row strip instead touches 2048 pages per column of
       tiles and misses the TLB on every row (2048 x 2048, one thread,
       best of 3-5 runs of 100 calls: 12.5 ms a call before, 6.8 ms with
       the blocks; the row prefetch in tile_copy took 16 ms to 12.5). */
    int64_t sa = (na + SUPER - 1) / SUPER, sb = (nb + SUPER - 1) / SUPER;
#if defined(HAVE_AVX2_TILE)
    int avx2 = __builtin_cpu_supports("avx2");
#endif
    int64_t outer = total / (na * nb), work = outer * sa * sb;
    /* dynamic: on a busy machine a thread that loses its core takes fewer
       blocks, instead of the others waiting for its static share */
    #pragma omp parallel for schedule(dynamic) if (total >= PAR_MIN)
    for (int64_t w = 0; w < work; w++) {
      int64_t o = w / (sa * sb), t = w % (sa * sb);
      int64_t A0 = (t / sb) * SUPER, B0 = (t % sb) * SUPER;
      int64_t A1 = A0 + SUPER < na ? A0 + SUPER : na, B1 = B0 + SUPER < nb ? B0 + SUPER : nb;
      int64_t d_off, s_off;
      outer_offsets(s, dims, m, o, &d_off, &s_off);
      for (int64_t a0 = A0; a0 < A1; a0 += TILE)
        for (int64_t b0 = B0; b0 < B1; b0 += TILE) {
          int64_t ae = a0 + TILE < A1 ? a0 + TILE : A1, be = b0 + TILE < B1 ? b0 + TILE : B1;
#if defined(HAVE_AVX2_TILE)
          if (avx2) { tile_copy_avx2(dst + d_off, src + s_off, a0, ae, b0, be, dsa, ssb); continue; }
#endif
          tile_copy(dst + d_off, src + s_off, a0, ae, b0, be, dsa, ssb);
        }
    }
    return NN_OK;
  }

  /* rows: the innermost dim at once (a memcpy when both are contiguous) */
  int dims[NN_STRIDED_MAXDIM];
  for (int d = 0; d < b; d++) dims[d] = d;
  int64_t rows = total / nb;
  #pragma omp parallel for schedule(static) if (total >= PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t d_off, s_off;
    outer_offsets(s, dims, b, r, &d_off, &s_off);
    uint32_t *drow = dst + d_off;
    const uint32_t *srow = src + s_off;
    if (dsb == 1 && ssb == 1) memcpy(drow, srow, (size_t)nb * sizeof *drow);
    else for (int64_t j = 0; j < nb; j++) drow[j * dsb] = srow[j * ssb];
  }
  return NN_OK;
}

int cpu_tri (float *outf, const float *xf, size_t batch, size_t rows, size_t cols, int64_t k,
             int upper) {
  uint32_t *out = (uint32_t *)(void *)outf;
  const uint32_t *x = (const uint32_t *)(const void *)xf;
  int64_t nrows = (int64_t)(batch * rows);
  #pragma omp parallel for schedule(static) if (batch * rows * cols >= PAR_MIN)
  for (int64_t br = 0; br < nrows; br++) {
    int64_t r = br % (int64_t)rows;
    size_t base = (size_t)br * cols;
    for (size_t c = 0; c < cols; c++)
      out[base + c] = nn_tri_keep(r, (int64_t)c, k, upper) ? x[base + c] : 0u;
  }
  return NN_OK;
}
