// utimensat(path, atimeNs, mtimeNs, noFollow): nanosecond-exact times, also on symlinks.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "errors.h"

namespace imz {

constexpr int64_t kNsPerSec = 1000000000;

timespec ToTimespec(int64_t ns) {
  int64_t sec = ns / kNsPerSec;
  int64_t rem = ns % kNsPerSec;
  if (rem < 0) {
    rem += kNsPerSec;
    sec -= 1;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rem);
  return ts;
}

int64_t BigIntArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsBigInt()) {
    throw Napi::TypeError::New(info.Env(), "utimensat: times must be bigint nanoseconds");
  }
  bool lossless = false;
  const int64_t v = info[i].As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(info.Env(), "utimensat: time out of 64-bit range");
  return v;
}

namespace {

class UtimensWorker : public Napi::AsyncWorker {
 public:
  UtimensWorker(Napi::Env env, std::string path, int64_t atime, int64_t mtime, bool no_follow)
      : Napi::AsyncWorker(env, "imz_rsync.utimensat"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        no_follow_(no_follow) {
    times_[0] = ToTimespec(atime);
    times_[1] = ToTimespec(mtime);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (::utimensat(AT_FDCWD, path_.c_str(), times_, no_follow_ ? AT_SYMLINK_NOFOLLOW : 0) != 0) err_ = errno;
  }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, "utimensat", path_).Value());
    } else {
      deferred_.Resolve(Env().Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  timespec times_[2];
  bool no_follow_;
  int err_ = 0;
};

Napi::Value Utimensat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[3].IsBoolean()) {
    throw Napi::TypeError::New(env, "utimensat(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean)");
  }
  std::string path = info[0].As<Napi::String>();
  if (path.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "utimensat: path contains NUL");
  auto* worker = new UtimensWorker(env, std::move(path), BigIntArg(info, 1), BigIntArg(info, 2),
                                   info[3].As<Napi::Boolean>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// The same call made on the calling thread: one syscall costs less than a trip to the thread pool,
// and the sync engine sets a time on every file it installs.
Napi::Value UtimensatSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[3].IsBoolean()) {
    throw Napi::TypeError::New(env, "utimensatSync(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean)");
  }
  std::string path = info[0].As<Napi::String>();
  if (path.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "utimensatSync: path contains NUL");
  timespec times[2] = {ToTimespec(BigIntArg(info, 1)), ToTimespec(BigIntArg(info, 2))};
  const bool no_follow = info[3].As<Napi::Boolean>();
  if (::utimensat(AT_FDCWD, path.c_str(), times, no_follow ? AT_SYMLINK_NOFOLLOW : 0) != 0) {
    throw ErrnoError(env, errno, "utimensat", path);
  }
  return env.Undefined();
}

}  // namespace

void InitUtimens(Napi::Env env, Napi::Object exports) {
  exports.Set("utimensat", Napi::Function::New<Utimensat>(env, "utimensat"));
  exports.Set("utimensatSync", Napi::Function::New<UtimensatSync>(env, "utimensatSync"));
}

}  // namespace imz
