// Per-environment data of the imz_rsync addon (constructors kept for objects made in C++).
#pragma once
#include <napi.h>

#include <ctime>

namespace imz {

/** Largest block length accepted, in a signature we make or one we load (bounds scoop buffers). */
constexpr long kMaxBlockLen = 1L << 26;

struct AddonData {
  Napi::FunctionReference signature_ctor;
};

AddonData& GetAddonData(Napi::Env env);

/** Splits nanoseconds since the epoch into a timespec (floor division, so negative times work). */
timespec ToTimespec(int64_t ns);
/** Argument `i` as bigint nanoseconds (throws a TypeError / RangeError otherwise). */
int64_t BigIntArg(const Napi::CallbackInfo& info, size_t i);

/** Registers utimensat(path, atimeNs, mtimeNs, noFollow) → Promise<void>. */
void InitUtimens(Napi::Env env, Napi::Object exports);
/** Adds `syncfs` to the addon's exports. */
void InitSyncfs(Napi::Env env, Napi::Object exports);
/** Adds the BLAKE2b content hash (`Blake2b`, `hashFd`) to the addon's exports. */
void InitHash(Napi::Env env, Napi::Object exports);
/** Adds `Blake2bStream`, the BLAKE2b whose updates run on worker threads (hash-stream.cc). */
void InitHashStream(Napi::Env env, Napi::Object exports);
/** Adds the *at calls beneath a root (`openBeneath`, `mkdirat`, `renameat`, …; beneath.cc). */
void InitBeneath(Napi::Env env, Napi::Object exports);
/** Adds the scanner's directory walk (`walkDir`, native/walk.cc) to the addon's exports. */
void InitWalk(Napi::Env env, Napi::Object exports);
/** Adds the filter's POSIX calls (`setFsIds`, `mknod`; native/posix.cc) to the addon's exports. */
void InitPosix(Napi::Env env, Napi::Object exports);
/** Adds extended attributes beneath a directory descriptor (`xattrList`, `xattrGet`, …; native/xattr.cc). */
void InitXattr(Napi::Env env, Napi::Object exports);
/** Adds `stageFiles`, a batch of small files written to temp files on a worker thread (native/stage.cc). */
void InitStage(Napi::Env env, Napi::Object exports);
/** Adds `copyRanges`, byte ranges copied between files in the kernel (native/copy-range.cc). */
void InitCopyRange(Napi::Env env, Napi::Object exports);

}  // namespace imz
