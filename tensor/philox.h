/*
** philox.h -- the Philox4x32-10 counter-based generator, for both backends.
**
** Source: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel
** random numbers: as easy as 1, 2, 3", SC'11.  A block of four 32-bit
** outputs is a pure function of a 128-bit counter c and a 64-bit key k: ten
** rounds of
**     (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0,  lo(M1 c2),
**                          hi(M0 c0) ^ c3 ^ k1,  lo(M0 c0))
** with M0 = 0xD2511F53, M1 = 0xCD9E8D57 (hi/lo: halves of the 64-bit product),
** and the key bumped by the Weyl
** constants W0 = 0x9E3779B9, W1 = 0xBB67AE85 between rounds.  Because it has
** no state, thread i of a GPU kernel computes block i directly, and gets the
** very numbers the CPU loop gets.
** Known answer (counter and key all zero): 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
*/
#ifndef NN_PHILOX_H
#define NN_PHILOX_H

#include <stdint.h>
#include <math.h>
#include "elementwise.h"   /* NN_HD */

NN_HD void philox_round (uint32_t c[4], const uint32_t k[2]) {
  uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
  uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
  uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0];
  uint32_t n1 = (uint32_t)p1;
  uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1];
  uint32_t n3 = (uint32_t)p0;
  c[0] = n0; c[1] = n1; c[2] = n2; c[3] = n3;
}

/* out = Philox4x32-10(counter, key). */
NN_HD void philox4x32_10 (uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]) {
  uint32_t c[4] = { ctr[0], ctr[1], ctr[2], ctr[3] };
  uint32_t k[2] = { key[0], key[1] };
  for (int r = 0; r < 10; r++) {
    if (r > 0) { k[0] += 0x9E3779B9u; k[1] += 0xBB67AE85u; }
    philox_round(c, k);
  }
  out[0] = c[0]; out[1] = c[1]; out[2] = c[2]; out[3] = c[3];
}

/* The four outputs of block `block` under `seed`: the counter is the 64-bit
** block index in its low words, the key is the 64-bit seed. */
NN_HD void philox_block (uint32_t out[4], uint64_t seed, uint64_t block) {
  uint32_t ctr[4] = { (uint32_t)block, (uint32_t)(block >> 32), 0u, 0u };
  uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
  philox4x32_10(out, ctr, key);
}

/* Uniform in [0, 1): the top 24 bits, which a float holds exactly. */
NN_HD float philox_u01 (uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
/* Uniform in (0, 1]: safe under log(). */
NN_HD float philox_u01_open0 (uint32_t x) { return ((float)(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

/* Box-Muller (Box & Muller, 1958): two independent uniforms u1 in (0,1],
** u2 in [0,1) give two independent standard normals
**   z0 = sqrt(-2 ln u1) cos(2 pi u2),   z1 = sqrt(-2 ln u1) sin(2 pi u2).
** Lanes (0,1) of a block give z for elements 0,1 and lanes (2,3) for 2,3. */
NN_HD float philox_normal (const uint32_t r[4], int lane) {
  int pair = lane & 2;
  float u1 = philox_u01_open0(r[pair]);
  float u2 = philox_u01(r[pair + 1]);
  float radius = sqrtf(-2.0f * logf(u1));
  float theta = 6.28318530717958647692f * u2;
  return (lane & 1) ? radius * sinf(theta) : radius * cosf(theta);
}

#endif
