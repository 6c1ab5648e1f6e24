// syncfs(path): flushes every dirty page of the filesystem holding `path` in one call, on a worker
// thread. The sync engine makes a whole batch of staged temp files durable with it before any of
// them replaces a file, instead of one fsync per file.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "errors.h"

namespace imz {
namespace {

class SyncfsWorker : public Napi::AsyncWorker {
 public:
  SyncfsWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env, "imz_rsync.syncfs"), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    if (::syncfs(fd) != 0) err_ = errno;
    ::close(fd);
  }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, "syncfs", path_).Value());
    } else {
      deferred_.Resolve(Env().Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  int err_ = 0;
};

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "syncfs(path: string)");
  std::string path = info[0].As<Napi::String>();
  if (path.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "syncfs: path contains NUL");
  auto* worker = new SyncfsWorker(env, std::move(path));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitSyncfs(Napi::Env env, Napi::Object exports) {
  exports.Set("syncfs", Napi::Function::New<Syncfs>(env, "syncfs"));
}

}  // namespace imz
