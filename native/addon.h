// Per-environment data of the imz_rsync addon (constructors kept for objects made in C++).
#pragma once
#include <napi.h>

namespace imz {

/** Largest block length accepted, in a signature we make or one we load (bounds scoop buffers). */
constexpr long kMaxBlockLen = 1L << 26;

struct AddonData {
  Napi::FunctionReference signature_ctor;
};

AddonData& GetAddonData(Napi::Env env);

/** Registers utimensat(path, atimeNs, mtimeNs, noFollow) → Promise<void>. */
void InitUtimens(Napi::Env env, Napi::Object exports);
/** Adds `syncfs` to the addon's exports. */
void InitSyncfs(Napi::Env env, Napi::Object exports);
/** Adds the BLAKE2b content hash (`Blake2b`, `hashFd`) to the addon's exports. */
void InitHash(Napi::Env env, Napi::Object exports);
/** Adds the scanner's directory walk (`walkDir`, native/walk.cc) to the addon's exports. */
void InitWalk(Napi::Env env, Napi::Object exports);
/** Adds the filter's POSIX calls (`setFsIds`, `mknod`; native/posix.cc) to the addon's exports. */
void InitPosix(Napi::Env env, Napi::Object exports);

}  // namespace imz
