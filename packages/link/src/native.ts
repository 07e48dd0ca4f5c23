/**
 * The optional native AEAD (native/aead.c): AES-256-GCM and ChaCha20-Poly1305 over the OpenSSL
 * inside Node.js, one cipher context per key, encrypting and decrypting between caller-owned
 * buffers (in place on receive). node:crypto is the fallback; both give identical bytes.
 * It also carries AEGIS-128L (native/aegis.c) on x86-64 CPUs with AES-NI and AVX: no fallback
 * exists for that one, so the provider offers it only where the addon has it.
 *
 * Loaded once, lazily. `ABI_LINK_NATIVE=0` disables it (then {@link nativeAead} says why).
 */
import { createRequire } from 'node:module';

/** The addon's functions (see native/aead.c for the contract each one checks). */
export interface NativeAeadBinding {
  /** 0 AES-256-GCM, 1 ChaCha20-Poly1305, 2 AEGIS-128L (first 16 bytes of the key; only where {@link aegis}). */
  create(cipher: 0 | 1 | 2, key: Uint8Array, encrypt: boolean): object;
  start(handle: object, nonce: Uint8Array, aad: Uint8Array): void;
  update(handle: object, src: Uint8Array, dst: Uint8Array): void;
  finish(handle: object, tag: Uint8Array): boolean;
  readonly openssl: string;
  /** Whether AEGIS-128L runs on this CPU (AES-NI and AVX). */
  readonly aegis: boolean;
}

/** Whether the native AEAD is in use, and if not, why. */
export interface NativeAeadStatus {
  readonly loaded: boolean;
  /** OpenSSL version the addon runs on (Node's own), when loaded. */
  readonly openssl?: string;
  /** Whether it also offers AEGIS-128L (x86-64 with AES-NI and AVX), when loaded. */
  readonly aegis?: boolean;
  /** Why it is not loaded. */
  readonly reason?: string;
}

let binding: NativeAeadBinding | undefined;
let status: NativeAeadStatus | undefined;

function load(): void {
  if (status !== undefined) return;
  if (process.env.ABI_LINK_NATIVE === '0') {
    status = { loaded: false, reason: 'disabled by ABI_LINK_NATIVE=0' };
    return;
  }
  try {
    // src/ and dist/ are both one level below the package root
    const b = createRequire(import.meta.url)('../native/build/Release/abi_link_aead.node') as NativeAeadBinding;
    if (typeof b.create !== 'function' || typeof b.start !== 'function' || typeof b.update !== 'function' || typeof b.finish !== 'function') throw new Error('unexpected exports');
    binding = b;
    status = { loaded: true, openssl: b.openssl, aegis: b.aegis };
  } catch (e) {
    status = { loaded: false, reason: `not built or not loadable (${e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e)}); run the package's build script with a C toolchain` };
  }
}

/** The binding, or undefined when the fallback is in use. */
export function nativeBinding(): NativeAeadBinding | undefined {
  load();
  return binding;
}

/** Whether @abi/link's record layer runs on the native AEAD or on node:crypto. */
export function nativeAead(): NativeAeadStatus {
  load();
  return status ?? { loaded: false, reason: 'unknown' };
}
