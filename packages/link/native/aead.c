/*
 * In-place AEAD for @abi/link's record layer: AES-256-GCM and ChaCha20-Poly1305 through the
 * OpenSSL that Node.js itself links (its EVP symbols and headers ship with Node), and AEGIS-128L
 * (aegis.c; OpenSSL has none) on CPUs with AES-NI and AVX.
 *
 * Why it exists: node:crypto can neither re-IV a cipher object nor write into a caller's buffer,
 * so every record costs a new JS cipher object (with a weak handle the GC must process) and a
 * fresh output allocation. Here one EVP context per key and direction lives as long as the key;
 * a record re-IVs it and encrypts or decrypts between buffers the caller owns (in place allowed).
 * The bytes are those of node:crypto (tests compare them).
 *
 * Contract (checked here, so bad arguments throw instead of corrupting memory):
 *   create(cipher 0|1|2, key 32 bytes, encrypt bool) -> handle
 *                                                   0 AES-256-GCM, 1 ChaCha20-Poly1305,
 *                                                   2 AEGIS-128L keyed with the key's first 16 bytes
 *                                                     (throws where `aegis` is false)
 *   start(handle, nonce 12 bytes (16 for AEGIS), aad) re-IV and absorb the AAD
 *   update(handle, src, dst)                        dst.length >= src.length; dst is src or disjoint
 *   finish(handle, tag 16 bytes) -> bool            encrypt: writes the tag, true;
 *                                                   decrypt: true when the tag authenticates
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include "aegis.h"

typedef struct {
  EVP_CIPHER_CTX *ctx; /* NULL for AEGIS */
  AegisState *aegis;   /* AEGIS only */
  unsigned char key[16];
  int encrypt;
  int started; /* start() succeeded since the last finish() */
} Aead;

static void release(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Aead *a = data;
  EVP_CIPHER_CTX_free(a->ctx); /* also cleanses the key schedule */
  if (a->aegis != NULL) {
    OPENSSL_cleanse(a->aegis, sizeof *a->aegis);
    free(a->aegis);
  }
  OPENSSL_cleanse(a->key, sizeof a->key);
  free(a);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_ABI_LINK_NATIVE", message);
  return NULL;
}

static int bytes(napi_env env, napi_value v, unsigned char **p, size_t *n) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  void *d;
  if (napi_get_typedarray_info(env, v, &t, n, &d, &ab, &off) != napi_ok || t != napi_uint8_array) return 0;
  *p = d;
  return 1;
}

static Aead *handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static napi_value wrap(napi_env env, Aead *a) {
  napi_value ext;
  if (napi_create_external(env, a, release, NULL, &ext) != napi_ok) {
    release(env, a, NULL);
    return fail(env, "cannot create handle");
  }
  return ext;
}

static napi_value create_aegis(napi_env env, const unsigned char *key, bool encrypt) {
  if (!aegis_supported()) return fail(env, "AEGIS-128L needs a CPU with AES-NI and AVX");
  Aead *a = calloc(1, sizeof(Aead));
  if (a == NULL) return fail(env, "out of memory");
  a->aegis = aligned_alloc(16, sizeof(AegisState));
  if (a->aegis == NULL) {
    free(a);
    return fail(env, "out of memory");
  }
  memset(a->aegis, 0, sizeof *a->aegis);
  memcpy(a->key, key, 16);
  a->encrypt = encrypt ? 1 : 0;
  return wrap(env, a);
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return fail(env, "create(cipher, key, encrypt)");
  int32_t which;
  bool encrypt;
  unsigned char *key;
  size_t klen;
  if (napi_get_value_int32(env, argv[0], &which) != napi_ok || which < 0 || which > 2) return fail(env, "cipher must be 0, 1 or 2");
  if (!bytes(env, argv[1], &key, &klen) || klen != 32) return fail(env, "key must be a 32-byte Uint8Array");
  if (napi_get_value_bool(env, argv[2], &encrypt) != napi_ok) return fail(env, "encrypt must be a boolean");
  if (which == 2) return create_aegis(env, key, encrypt);
  const EVP_CIPHER *c = which == 0 ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
  Aead *a = calloc(1, sizeof(Aead));
  if (a == NULL) return fail(env, "out of memory");
  a->ctx = EVP_CIPHER_CTX_new();
  a->encrypt = encrypt ? 1 : 0;
  if (a->ctx == NULL || EVP_CipherInit_ex(a->ctx, c, NULL, NULL, NULL, a->encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
      EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, a->encrypt) != 1) {
    EVP_CIPHER_CTX_free(a->ctx);
    free(a);
    return fail(env, "cipher initialisation failed");
  }
  return wrap(env, a);
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return fail(env, "start(handle, nonce, aad)");
  Aead *a = handle(env, argv[0]);
  unsigned char *iv, *aad;
  size_t ivl, aadl;
  int outl;
  if (a == NULL) return fail(env, "not a cipher handle");
  if (!bytes(env, argv[1], &iv, &ivl) || ivl != (a->aegis != NULL ? 16u : 12u))
    return fail(env, a->aegis != NULL ? "nonce must be a 16-byte Uint8Array" : "nonce must be a 12-byte Uint8Array");
  if (!bytes(env, argv[2], &aad, &aadl) || aadl > INT_MAX) return fail(env, "aad must be a Uint8Array");
  a->started = 0;
  if (a->aegis != NULL) {
    aegis_start(a->aegis, a->key, iv, aad, aadl, a->encrypt);
    a->started = 1;
    return NULL;
  }
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, iv, a->encrypt) != 1) return fail(env, "setting the nonce failed");
  if (aadl > 0 && EVP_CipherUpdate(a->ctx, NULL, &outl, aad, (int)aadl) != 1) return fail(env, "absorbing the aad failed");
  a->started = 1;
  return NULL;
}

static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return fail(env, "update(handle, src, dst)");
  Aead *a = handle(env, argv[0]);
  unsigned char *s, *d;
  size_t sl, dl;
  int outl;
  if (a == NULL) return fail(env, "not a cipher handle");
  if (!a->started) return fail(env, "update before start");
  if (!bytes(env, argv[1], &s, &sl) || !bytes(env, argv[2], &d, &dl)) return fail(env, "src and dst must be Uint8Arrays");
  if (dl < sl || sl > INT_MAX) return fail(env, "dst is shorter than src");
  /* exact aliasing is supported by OpenSSL's stream modes; partial overlap is not */
  uintptr_t sp = (uintptr_t)s, dp = (uintptr_t)d;
  if (s != d && sp < dp + sl && dp < sp + sl) return fail(env, "src and dst overlap");
  if (a->aegis != NULL) {
    aegis_update(a->aegis, s, d, sl);
    return NULL;
  }
  if (sl > 0 && EVP_CipherUpdate(a->ctx, d, &outl, s, (int)sl) != 1) return fail(env, "cipher update failed");
  return NULL;
}

static napi_value finish(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "finish(handle, tag)");
  Aead *a = handle(env, argv[0]);
  unsigned char *tag;
  size_t tl;
  unsigned char none[32];
  int outl = 0;
  napi_value r;
  if (a == NULL) return fail(env, "not a cipher handle");
  if (!a->started) return fail(env, "finish before start");
  if (!bytes(env, argv[1], &tag, &tl) || tl != 16) return fail(env, "tag must be a 16-byte Uint8Array");
  a->started = 0;
  if (a->aegis != NULL) {
    unsigned char t[16];
    aegis_tag(a->aegis, t);
    int ok = 1;
    if (a->encrypt) memcpy(tag, t, 16);
    else ok = CRYPTO_memcmp(t, tag, 16) == 0;
    OPENSSL_cleanse(t, sizeof t);
    napi_get_boolean(env, ok, &r);
    return r;
  }
  if (a->encrypt) {
    if (EVP_CipherFinal_ex(a->ctx, none, &outl) != 1 || EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) return fail(env, "sealing failed");
    napi_get_boolean(env, true, &r);
    return r;
  }
  if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1) return fail(env, "setting the tag failed");
  napi_get_boolean(env, EVP_CipherFinal_ex(a->ctx, none, &outl) == 1, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value version;
  napi_property_descriptor d[] = {
    {"create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
    {"start", NULL, start, NULL, NULL, NULL, napi_enumerable, NULL},
    {"update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL},
    {"finish", NULL, finish, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 4, d);
  napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "openssl", version);
  napi_value aegis;
  napi_get_boolean(env, aegis_supported(), &aegis);
  napi_set_named_property(env, exports, "aegis", aegis);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
