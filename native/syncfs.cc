// Flushing to disk on worker threads. syncfs(path) flushes every dirty page of the filesystem
// holding `path` in one call: the sync engine makes a whole batch of staged temp files durable
// with it before any of them replaces a file, instead of one fsync per file. startWriteback(fd,
// offset, length) starts writing a range of a file back without waiting (sync_file_range
// SYNC_FILE_RANGE_WRITE), so a large file being written reaches the disk while it is written
// and the flush that follows has little left to do.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>

#include "addon.h"
#include "errors.h"

namespace imz {
namespace {

/** Runs one flushing system call on a worker thread; rejects with a Node-style errno error. */
class FlushWorker : public Napi::AsyncWorker {
 public:
  FlushWorker(Napi::Env env, const char* syscall, std::string path, std::function<int()> op)
      : Napi::AsyncWorker(env, "imz_rsync.flush"),
        deferred_(Napi::Promise::Deferred::New(env)),
        syscall_(syscall),
        path_(std::move(path)),
        op_(std::move(op)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  /** `op` returns 0 or an errno. */
  void Execute() override { err_ = op_(); }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, syscall_, path_).Value());
    } else {
      deferred_.Resolve(Env().Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  const char* syscall_;
  std::string path_;
  std::function<int()> op_;
  int err_ = 0;
};

Napi::Promise Queue(FlushWorker* worker) {
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "syncfs(path: string)");
  std::string path = info[0].As<Napi::String>();
  if (path.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "syncfs: path contains NUL");
  return Queue(new FlushWorker(env, "syncfs", path, [path] {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    const int err = ::syncfs(fd) != 0 ? errno : 0;
    ::close(fd);
    return err;
  }));
}

Napi::Value StartWriteback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "startWriteback(fd: number, offset: number, length: number)");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int64_t offset = info[1].As<Napi::Number>().Int64Value();
  const int64_t length = info[2].As<Napi::Number>().Int64Value();
  if (fd < 0 || offset < 0 || length < 0) throw Napi::RangeError::New(env, "startWriteback: negative argument");
  return Queue(new FlushWorker(env, "sync_file_range", "", [fd, offset, length] {
    return ::sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) != 0 ? errno : 0;
  }));
}

}  // namespace

void InitSyncfs(Napi::Env env, Napi::Object exports) {
  exports.Set("syncfs", Napi::Function::New<Syncfs>(env, "syncfs"));
  exports.Set("startWriteback", Napi::Function::New<StartWriteback>(env, "startWriteback"));
}

}  // namespace imz
