// POSIX calls the Presto filter needs and Node lacks. setFsIds(uid, gid, groups) sets the calling
// thread's filesystem uid, gid and supplementary groups (raw system calls: one thread, unlike
// glibc's wrappers, which change every thread of the process), so that an object the filter
// creates for another user is that user's, with the kernel's own rules for its group and set-id
// bits. mknod(path, mode, dev) makes FIFOs, sockets and device nodes.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace imz {
namespace {

uint32_t U32(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), usage);
  return info[i].As<Napi::Number>().Uint32Value();
}

Napi::Value SetFsIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "setFsIds(uid: number, gid: number, groups: number[])";
  const uid_t uid = U32(info, 0, usage);
  const gid_t gid = U32(info, 1, usage);
  if (info.Length() < 3 || !info[2].IsArray()) throw Napi::TypeError::New(env, usage);
  Napi::Array list = info[2].As<Napi::Array>();
  std::vector<gid_t> groups(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) groups[i] = list.Get(i).As<Napi::Number>().Uint32Value();
  // Back to root first (it regains the filesystem capabilities), then the groups, then the ids.
  if (uid == 0) syscall(SYS_setfsuid, 0);
  if (syscall(SYS_setgroups, groups.size(), groups.data()) != 0) throw ErrnoError(env, errno, "setgroups", "");
  syscall(SYS_setfsgid, gid);
  syscall(SYS_setfsuid, uid);
  // setfsuid and setfsgid report no errors: ask for the current values (-1 changes nothing).
  if (static_cast<uid_t>(syscall(SYS_setfsuid, -1)) != uid || static_cast<gid_t>(syscall(SYS_setfsgid, -1)) != gid) {
    throw ErrnoError(env, EPERM, "setfsuid", "");
  }
  return env.Undefined();
}

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "mknod(path: string, mode: number, dev: number)";
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, usage);
  std::string path = info[0].As<Napi::String>();
  if (path.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "mknod: path contains NUL");
  const mode_t mode = U32(info, 1, usage);
  const dev_t dev = U32(info, 2, usage);
  if (::mknod(path.c_str(), mode, dev) != 0) throw ErrnoError(env, errno, "mknod", path);
  return env.Undefined();
}

}  // namespace

void InitPosix(Napi::Env env, Napi::Object exports) {
  exports.Set("setFsIds", Napi::Function::New<SetFsIds>(env, "setFsIds"));
  exports.Set("mknod", Napi::Function::New<Mknod>(env, "mknod"));
}

}  // namespace imz
