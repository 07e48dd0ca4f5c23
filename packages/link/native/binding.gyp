{
  "targets": [
    {
      "target_name": "abi_link_aead",
      "sources": ["aead.c", "aegis.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
