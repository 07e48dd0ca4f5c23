/*
 * AEGIS-128L (RFC 10032) with a 128-bit tag, streaming, for @abi/link's record layer.
 * x86-64 with AES-NI and AVX only; aegis_supported() says whether this CPU (and build) has them.
 */
#ifndef ABI_LINK_AEGIS_H
#define ABI_LINK_AEGIS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  /* 8 state blocks; unsigned char so the header needs no intrinsics (16-byte aligned by the union) */
  union { unsigned char b[8][16]; long double align_; } s;
  unsigned char ks[32];    /* keystream of the pending partial block */
  unsigned char carry[32]; /* plaintext of the pending partial block */
  size_t have;             /* bytes in the pending partial block (0..31) */
  uint64_t adlen, mlen;
  int encrypt;
} AegisState;

int aegis_supported(void);
/* key: 16 bytes, nonce: 16 bytes; absorbs the whole AAD */
void aegis_start(AegisState *st, const unsigned char *key, const unsigned char *nonce, const unsigned char *ad, size_t adlen, int encrypt);
/* any length, any number of calls; src == dst allowed, no other overlap */
void aegis_update(AegisState *st, const unsigned char *src, unsigned char *dst, size_t n);
/* 16-byte tag */
void aegis_tag(AegisState *st, unsigned char tag[16]);
#endif
