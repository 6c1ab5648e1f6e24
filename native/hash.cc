// The whole-file content hash, BLAKE2b-512 (the caller keeps the first 32 bytes; see blake2b.h). `Blake2b` hashes
// bytes given from JavaScript on the calling thread; `hashFd` reads an open file with pread and
// hashes it on a worker thread, so a scan's hashing keeps neither the event loop nor JavaScript
// buffers busy.
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "blake2b.h"
#include "errors.h"

namespace imz {
namespace {

/** An incremental BLAKE2b-512: update(bytes) → this, digest() → 64-byte Buffer (once). */
class Blake2b : public Napi::ObjectWrap<Blake2b> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Blake2b", {InstanceMethod<&Blake2b::Update>("update"), InstanceMethod<&Blake2b::Digest>("digest")});
  }

  explicit Blake2b(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Blake2b>(info), state_(std::make_unique<Blake2bState>()) {}

 private:
  Napi::Value Update(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "update(data: Uint8Array)");
    if (finished_) throw Napi::Error::New(info.Env(), "update after digest");
    auto data = info[0].As<Napi::TypedArray>();
    const auto* bytes = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
    state_->Update(bytes, data.ByteLength());
    return info.This();
  }

  Napi::Value Digest(const Napi::CallbackInfo& info) {
    if (finished_) throw Napi::Error::New(info.Env(), "digest called twice");
    finished_ = true;
    auto out = Napi::Buffer<uint8_t>::New(info.Env(), kBlake2bBytes);
    if (!state_->Final(out.Data())) throw Napi::Error::New(info.Env(), "BLAKE2b failed (OpenSSL)");
    return out;
  }

  std::unique_ptr<Blake2bState> state_;
  bool finished_ = false;
};

/**
 * Reads the whole file open at `fd` from offset 0 with pread and hashes it on a worker thread; a
 * read error rejects with an errno error naming `path`.
 */
class HashFdWorker : public Napi::AsyncWorker {
 public:
  HashFdWorker(Napi::Env env, int fd, std::string path)
      : Napi::AsyncWorker(env, "imz_rsync.hashFd"), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), path_(std::move(path)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    Blake2bState state;
    std::vector<uint8_t> buf(1 << 20);
    for (off_t offset = 0;;) {
      const ssize_t n = ::pread(fd_, buf.data(), buf.size(), offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err_ = errno;
        return;
      }
      if (n == 0) break;
      state.Update(buf.data(), static_cast<size_t>(n));
      offset += n;
      bytes_ += n;
    }
    if (!state.Final(digest_)) err_ = ENOMEM;  // OpenSSL fails only for want of memory
  }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, "pread", path_).Value());
      return;
    }
    Napi::Object result = Napi::Object::New(Env());
    result.Set("digest", Napi::Buffer<uint8_t>::Copy(Env(), digest_, kBlake2bBytes));
    result.Set("bytes", Napi::Number::New(Env(), static_cast<double>(bytes_)));
    deferred_.Resolve(result);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  std::string path_;  // for error messages only
  int err_ = 0;
  int64_t bytes_ = 0;
  uint8_t digest_[kBlake2bBytes] = {};
};

Napi::Value HashFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "hashFd(fd: number, path?: string)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::RangeError::New(env, "hashFd: negative descriptor");
  std::string path = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto* worker = new HashFdWorker(env, fd, std::move(path));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitHash(Napi::Env env, Napi::Object exports) {
  exports.Set("Blake2b", Blake2b::Define(env));
  exports.Set("hashFd", Napi::Function::New<HashFd>(env, "hashFd"));
}

}  // namespace imz
