// Writing beneath a root without following symlinks: the *at system calls Node lacks. A directory
// is opened from the root down with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the
// kernel has it (Linux 5.6), else one component at a time with openat(O_NOFOLLOW | O_DIRECTORY);
// every change is then made on that directory descriptor and one plain name, never on a path the
// kernel would walk again. A component that is (or becomes) a symlink fails with ELOOP or ENOTDIR.
// All calls are synchronous: each is one or a few system calls, cheaper than a thread-pool trip.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace imz {
namespace {

/** A plain name: one component, never empty, `.` or `..` unless `allow_dot` (the directory itself). */
std::string NameArg(const Napi::CallbackInfo& info, size_t i, bool allow_dot = false) {
  std::string s = BytesArg(info, i, "name");
  if (s.empty() || s.find('/') != std::string::npos || s == ".." || (s == "." && !allow_dot)) {
    throw Napi::TypeError::New(info.Env(), "name must be one path component");
  }
  return s;
}

/** Closes `fd` when it goes out of scope. */
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

bool g_no_openat2 = false;

/**
 * Opens `rel` (components joined by '/', "" for the root itself) beneath `rootfd` with `flags`,
 * no symlink anywhere on the way or at the end. Returns the fd or -errno.
 */
int OpenBeneath(int rootfd, const std::string& rel, int flags, mode_t mode) {
  const std::string target = rel.empty() ? "." : rel;
  if (!g_no_openat2) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
    how.mode = (flags & O_CREAT) != 0 ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, rootfd, target.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS && errno != EPERM) return -errno;  // EPERM: a seccomp filter that refuses it
    g_no_openat2 = true;
  }
  // The walk: each directory opened by one name relative to the one before, never following.
  int cur = ::dup(rootfd);
  if (cur < 0) return -errno;
  size_t start = 0;
  for (;;) {
    const size_t slash = target.find('/', start);
    const std::string comp = target.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp.empty() || comp == "..") {
      ::close(cur);
      return -EXDEV;
    }
    const bool last = slash == std::string::npos;
    const int next = last ? ::openat(cur, comp.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode)
                          : ::openat(cur, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int err = errno;
    ::close(cur);
    if (next < 0) return -err;
    if (last) return next;
    cur = next;
    start = slash + 1;
  }
}

// openBeneath(root, rel, flags, mode) → fd; `root` is a path, or a directory descriptor the caller
// keeps open (a file set's root opened once: two system calls and a path walk less per call)
Napi::Value OpenBeneathJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool root_is_fd = info.Length() > 0 && info[0].IsNumber();
  const std::string root = root_is_fd ? std::string() : BytesArg(info, 0, "root");
  const std::string rel = BytesArg(info, 1, "rel");
  const int flags = IntArg(info, 2, "flags");
  const int mode = info.Length() > 3 ? IntArg(info, 3, "mode") : 0;
  if (!rel.empty() && (rel.front() == '/' || rel.back() == '/')) throw Napi::TypeError::New(env, "rel must be relative, without a trailing '/'");
  FdGuard rootfd{root_is_fd ? -1 : ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!root_is_fd && rootfd.fd < 0) throw ErrnoError(env, errno, "open", root);
  const int fd = OpenBeneath(root_is_fd ? IntArg(info, 0, "root") : rootfd.fd, rel, flags, static_cast<mode_t>(mode));
  if (fd < 0) throw ErrnoError(env, -fd, "openat2", rel);
  return Napi::Number::New(env, fd);
}

// mkdirat(dirfd, name, mode)
Napi::Value Mkdirat(const Napi::CallbackInfo& info) {
  const int dir = IntArg(info, 0, "dirfd");
  const std::string name = NameArg(info, 1);
  if (::mkdirat(dir, name.c_str(), static_cast<mode_t>(IntArg(info, 2, "mode"))) != 0) throw ErrnoError(info.Env(), errno, "mkdirat", name);
  return info.Env().Undefined();
}

// unlinkat(dirfd, name, removeDir)
Napi::Value Unlinkat(const Napi::CallbackInfo& info) {
  const int dir = IntArg(info, 0, "dirfd");
  const std::string name = NameArg(info, 1);
  const bool rmdir = info.Length() > 2 && info[2].ToBoolean();
  if (::unlinkat(dir, name.c_str(), rmdir ? AT_REMOVEDIR : 0) != 0) throw ErrnoError(info.Env(), errno, rmdir ? "rmdir" : "unlinkat", name);
  return info.Env().Undefined();
}

// renameat(oldDirfd, oldName, newDirfd, newName, noReplace): with noReplace an existing target is
// EEXIST (RENAME_NOREPLACE; where the filesystem lacks it, a hard link then unlink of a non-directory).
Napi::Value Renameat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int od = IntArg(info, 0, "oldDirfd");
  const std::string on = NameArg(info, 1);
  const int nd = IntArg(info, 2, "newDirfd");
  const std::string nn = NameArg(info, 3);
  const bool no_replace = info.Length() > 4 && info[4].ToBoolean();
  if (!no_replace) {
    if (::renameat(od, on.c_str(), nd, nn.c_str()) != 0) throw ErrnoError(env, errno, "renameat", on);
    return env.Undefined();
  }
  if (::syscall(SYS_renameat2, od, on.c_str(), nd, nn.c_str(), RENAME_NOREPLACE) == 0) return env.Undefined();
  if (errno != EINVAL && errno != ENOSYS) throw ErrnoError(env, errno, "renameat2", nn);
  if (::linkat(od, on.c_str(), nd, nn.c_str(), 0) != 0) throw ErrnoError(env, errno, "linkat", nn);
  if (::unlinkat(od, on.c_str(), 0) != 0) throw ErrnoError(env, errno, "unlinkat", on);
  return env.Undefined();
}

// linkat(oldDirfd, oldName, newDirfd, newName): never follows a symlink at oldName.
Napi::Value Linkat(const Napi::CallbackInfo& info) {
  const int od = IntArg(info, 0, "oldDirfd");
  const std::string on = NameArg(info, 1);
  const int nd = IntArg(info, 2, "newDirfd");
  const std::string nn = NameArg(info, 3);
  if (::linkat(od, on.c_str(), nd, nn.c_str(), 0) != 0) throw ErrnoError(info.Env(), errno, "linkat", nn);
  return info.Env().Undefined();
}

// symlinkat(target, dirfd, name)
Napi::Value Symlinkat(const Napi::CallbackInfo& info) {
  const std::string target = BytesArg(info, 0, "target");
  const int dir = IntArg(info, 1, "dirfd");
  const std::string name = NameArg(info, 2);
  if (::symlinkat(target.c_str(), dir, name.c_str()) != 0) throw ErrnoError(info.Env(), errno, "symlinkat", name);
  return info.Env().Undefined();
}

// fchmodat(dirfd, name, mode): never follows a symlink (fchmodat2 where the kernel has it, else
// glibc's AT_SYMLINK_NOFOLLOW emulation through an O_PATH descriptor). A symlink is EOPNOTSUPP.
Napi::Value Fchmodat(const Napi::CallbackInfo& info) {
  const int dir = IntArg(info, 0, "dirfd");
  const std::string name = NameArg(info, 1, true);
  const auto mode = static_cast<mode_t>(IntArg(info, 2, "mode"));
  long r = ::syscall(__NR_fchmodat2, dir, name.c_str(), mode, AT_SYMLINK_NOFOLLOW);
  if (r != 0 && errno == ENOSYS) r = ::fchmodat(dir, name.c_str(), mode, AT_SYMLINK_NOFOLLOW);
  if (r != 0) throw ErrnoError(info.Env(), errno, "fchmodat", name);
  return info.Env().Undefined();
}

// fchownat(dirfd, name, uid, gid): never follows a symlink (-1 leaves an id as it is).
Napi::Value Fchownat(const Napi::CallbackInfo& info) {
  const int dir = IntArg(info, 0, "dirfd");
  const std::string name = NameArg(info, 1, true);
  const auto uid = static_cast<uid_t>(IntArg(info, 2, "uid"));
  const auto gid = static_cast<gid_t>(IntArg(info, 3, "gid"));
  if (::fchownat(dir, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) throw ErrnoError(info.Env(), errno, "fchownat", name);
  return info.Env().Undefined();
}

// utimensat(dirfd, name, atimeNs, mtimeNs): never follows a symlink.
Napi::Value UtimensatAt(const Napi::CallbackInfo& info) {
  const int dir = IntArg(info, 0, "dirfd");
  const std::string name = NameArg(info, 1, true);
  const timespec times[2] = {ToTimespec(BigIntArg(info, 2)), ToTimespec(BigIntArg(info, 3))};
  if (::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw ErrnoError(info.Env(), errno, "utimensat", name);
  return info.Env().Undefined();
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

Napi::BigInt Ns(Napi::Env env, const timespec& t) {
  return Napi::BigInt::New(env, static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec);
}

// fstatat(dirfd, name) → { dev, ino, mode, nlink, uid, gid, size, mtimeNs, ctimeNs } (bigints), not following.
Napi::Value Fstatat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dir = IntArg(info, 0, "dirfd");
  const std::string name = NameArg(info, 1, true);
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw ErrnoError(env, errno, "fstatat", name);
  Napi::Object o = Napi::Object::New(env);
  o.Set("dev", Big(env, st.st_dev));
  o.Set("ino", Big(env, st.st_ino));
  o.Set("mode", Big(env, st.st_mode));
  o.Set("nlink", Big(env, st.st_nlink));
  o.Set("uid", Big(env, st.st_uid));
  o.Set("gid", Big(env, st.st_gid));
  o.Set("size", Big(env, static_cast<uint64_t>(st.st_size)));
  o.Set("mtimeNs", Ns(env, st.st_mtim));
  o.Set("ctimeNs", Ns(env, st.st_ctim));
  return o;
}

}  // namespace

void InitBeneath(Napi::Env env, Napi::Object exports) {
  exports.Set("openBeneath", Napi::Function::New<OpenBeneathJs>(env, "openBeneath"));
  exports.Set("mkdirat", Napi::Function::New<Mkdirat>(env, "mkdirat"));
  exports.Set("unlinkat", Napi::Function::New<Unlinkat>(env, "unlinkat"));
  exports.Set("renameat", Napi::Function::New<Renameat>(env, "renameat"));
  exports.Set("linkat", Napi::Function::New<Linkat>(env, "linkat"));
  exports.Set("symlinkat", Napi::Function::New<Symlinkat>(env, "symlinkat"));
  exports.Set("fchmodat", Napi::Function::New<Fchmodat>(env, "fchmodat"));
  exports.Set("fchownat", Napi::Function::New<Fchownat>(env, "fchownat"));
  exports.Set("utimensatAt", Napi::Function::New<UtimensatAt>(env, "utimensatAt"));
  exports.Set("fstatat", Napi::Function::New<Fstatat>(env, "fstatat"));
}

}  // namespace imz
