{
  "targets": [
    {
      "target_name": "imz_rsync",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/job.cc",
        "native/signature.cc",
        "native/trace.cc",
        "native/utimens.cc",
        "native/syncfs.cc",
        "native/hash.cc",
        "native/hash-stream.cc",
        "native/beneath.cc",
        "native/walk.cc",
        "native/posix.cc",
        "native/xattr.cc",
        "native/stage.cc",
        "native/copy-range.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "libraries": ["-lrsync"]
    }
  ]
}
