// Extended attributes (and POSIX ACLs, which the kernel keeps as the xattrs
// system.posix_acl_access / system.posix_acl_default) of an object named relative to a directory
// descriptor, never following a symlink at the name: the lgetxattr / llistxattr / lsetxattr /
// lremovexattr of the *at world. The name is opened with O_PATH | O_NOFOLLOW beneath `dirfd` (a
// Place from beneath.cc, or AT_FDCWD and a path for the filter), and the attribute call is made on
// /proc/self/fd/N of that descriptor, which the kernel resolves to the object itself without
// walking the tree again. A symlink has no attributes here (list: none; get: ENODATA; set or
// remove: EPERM, as the kernel answers for user.* on a symlink). Values are Buffers. All calls are
// synchronous (a few system calls each, cheaper than a thread-pool trip).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace imz {
namespace {

int Dirfd(const Napi::CallbackInfo& info) { return IntArg(info, 0, "dirfd"); }

/** The object `name` beneath `dirfd`, opened O_PATH without following a symlink; closed on scope exit. */
struct Object {
  int fd = -1;
  bool symlink = false;
  std::string proc;
  Object(Napi::Env env, int dirfd, const std::string& name) {
    fd = ::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw ErrnoError(env, errno, "openat", name);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw ErrnoError(env, err, "fstat", name);
    }
    symlink = S_ISLNK(st.st_mode);
    proc = "/proc/self/fd/" + std::to_string(fd);
  }
  ~Object() {
    if (fd >= 0) ::close(fd);
  }
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
};

/** Reads attribute `attr` of `path` into `out`; returns 0 or an errno (retries when it grew meanwhile). */
int GetValue(const std::string& path, const char* attr, std::vector<char>& out) {
  for (int tries = 0; tries < 8; tries++) {
    const ssize_t n = ::getxattr(path.c_str(), attr, nullptr, 0);
    if (n < 0) return errno;
    out.resize(static_cast<size_t>(n));
    const ssize_t m = ::getxattr(path.c_str(), attr, out.data(), out.size());
    if (m >= 0) {
      out.resize(static_cast<size_t>(m));
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

// xattrList(dirfd, name) → Array<[attr: string, value: Buffer]>: every attribute the caller may read.
Napi::Value XattrList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dirfd = Dirfd(info);
  const std::string name = BytesArg(info, 1, "name", true);
  // A path (the scanner, the filter): an object with no attributes at all — most — is answered by
  // one llistxattr on the path, not openat + fstat + listxattr through /proc + close (a first
  // copy's scan paid about 10 us a file). Anything else, errors included, takes the path below.
  if (dirfd == AT_FDCWD && ::llistxattr(name.c_str(), nullptr, 0) == 0) return Napi::Array::New(env);
  Object o(env, dirfd, name);
  Napi::Array out = Napi::Array::New(env);
  if (o.symlink) return out;
  std::vector<char> names;
  for (int tries = 0;; tries++) {
    const ssize_t n = ::listxattr(o.proc.c_str(), nullptr, 0);
    if (n < 0) throw ErrnoError(env, errno, "listxattr", name);
    names.resize(static_cast<size_t>(n));
    const ssize_t m = n == 0 ? 0 : ::listxattr(o.proc.c_str(), names.data(), names.size());
    if (m >= 0) {
      names.resize(static_cast<size_t>(m));
      break;
    }
    if (errno != ERANGE || tries >= 8) throw ErrnoError(env, errno, "listxattr", name);
  }
  uint32_t k = 0;
  std::vector<char> value;
  for (size_t i = 0; i < names.size();) {
    const std::string attr(names.data() + i);
    i += attr.size() + 1;
    if (attr.empty()) continue;
    const int err = GetValue(o.proc, attr.c_str(), value);
    if (err == ENODATA) continue;  // removed meanwhile
    if (err != 0) throw ErrnoError(env, err, "getxattr", name + " " + attr);
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, attr));
    pair.Set(1u, Napi::Buffer<char>::Copy(env, value.data(), value.size()));
    out.Set(k++, pair);
  }
  return out;
}

// xattrGet(dirfd, name, attr) → Buffer (ENODATA when it has none).
Napi::Value XattrGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dirfd = Dirfd(info);
  const std::string name = BytesArg(info, 1, "name", true);
  const std::string attr = BytesArg(info, 2, "attr", true);
  Object o(env, dirfd, name);
  if (o.symlink) throw ErrnoError(env, ENODATA, "getxattr", name);
  std::vector<char> value;
  const int err = GetValue(o.proc, attr.c_str(), value);
  if (err != 0) throw ErrnoError(env, err, "getxattr", name);
  return Napi::Buffer<char>::Copy(env, value.data(), value.size());
}

// xattrSet(dirfd, name, attr, value: Buffer, flags: 0 | XATTR_CREATE | XATTR_REPLACE)
Napi::Value XattrSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dirfd = Dirfd(info);
  const std::string name = BytesArg(info, 1, "name", true);
  const std::string attr = BytesArg(info, 2, "attr", true);
  if (info.Length() < 4 || !info[3].IsBuffer()) throw Napi::TypeError::New(env, "value must be a Buffer");
  auto value = info[3].As<Napi::Buffer<char>>();
  const int flags = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : 0;
  Object o(env, dirfd, name);
  if (o.symlink) throw ErrnoError(env, EPERM, "setxattr", name);
  if (::setxattr(o.proc.c_str(), attr.c_str(), value.Data(), value.Length(), flags) != 0) throw ErrnoError(env, errno, "setxattr", name);
  return env.Undefined();
}

// xattrRemove(dirfd, name, attr) (ENODATA when it has none).
Napi::Value XattrRemove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dirfd = Dirfd(info);
  const std::string name = BytesArg(info, 1, "name", true);
  const std::string attr = BytesArg(info, 2, "attr", true);
  Object o(env, dirfd, name);
  if (o.symlink) throw ErrnoError(env, EPERM, "removexattr", name);
  if (::removexattr(o.proc.c_str(), attr.c_str()) != 0) throw ErrnoError(env, errno, "removexattr", name);
  return env.Undefined();
}

}  // namespace

void InitXattr(Napi::Env env, Napi::Object exports) {
  exports.Set("xattrList", Napi::Function::New<XattrList>(env, "xattrList"));
  exports.Set("xattrGet", Napi::Function::New<XattrGet>(env, "xattrGet"));
  exports.Set("xattrSet", Napi::Function::New<XattrSet>(env, "xattrSet"));
  exports.Set("xattrRemove", Napi::Function::New<XattrRemove>(env, "xattrRemove"));
}

}  // namespace imz
