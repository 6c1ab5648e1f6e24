// An incremental BLAKE2b-512 whose updates run on worker threads: a receiver hashes what it writes
// off the event loop, which in a local sync also carries the sender, the patch and the writes.
// The caller keeps one update in flight at a time (each awaits the previous); the bytes given stay
// referenced until their update is done.
#include <memory>

#include "addon.h"
#include "blake2b.h"

namespace imz {
namespace {

class UpdateWorker;

/**
 * update(bytes) → Promise<void> (one at a time), updateNow(bytes) on the calling thread (small
 * chunks: no thread trip), digest() → 64-byte Buffer (once).
 */
class Blake2bStream : public Napi::ObjectWrap<Blake2bStream> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Blake2bStream", {InstanceMethod<&Blake2bStream::Update>("update"), InstanceMethod<&Blake2bStream::UpdateNow>("updateNow"),
                                              InstanceMethod<&Blake2bStream::Digest>("digest")});
  }

  explicit Blake2bStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Blake2bStream>(info), state_(std::make_unique<Blake2bState>()) {}

  Blake2bState* state() { return state_.get(); }
  bool busy = false;

 private:
  Napi::Value Update(const Napi::CallbackInfo& info);

  Napi::Value UpdateNow(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "updateNow(data: Uint8Array)");
    if (finished_ || busy) throw Napi::Error::New(info.Env(), finished_ ? "update after digest" : "an update is already in flight");
    auto data = info[0].As<Napi::TypedArray>();
    state_->Update(static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset(), data.ByteLength());
    return info.Env().Undefined();
  }

  Napi::Value Digest(const Napi::CallbackInfo& info) {
    if (finished_ || busy) throw Napi::Error::New(info.Env(), finished_ ? "digest called twice" : "digest while an update is in flight");
    finished_ = true;
    auto out = Napi::Buffer<uint8_t>::New(info.Env(), kBlake2bBytes);
    if (!state_->Final(out.Data())) throw Napi::Error::New(info.Env(), "BLAKE2b failed (OpenSSL)");
    return out;
  }

  std::unique_ptr<Blake2bState> state_;
  bool finished_ = false;
};

class UpdateWorker : public Napi::AsyncWorker {
 public:
  UpdateWorker(Blake2bStream* hasher, Napi::Object owner, Napi::TypedArray data)
      : Napi::AsyncWorker(owner.Env(), "imz_rsync.blake2bUpdate"),
        hasher_(hasher),
        deferred_(Napi::Promise::Deferred::New(owner.Env())),
        bytes_(static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset()),
        len_(data.ByteLength()) {
    owner_ref_ = Napi::Persistent(owner);
    data_ref_ = Napi::Persistent(data);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { hasher_->state()->Update(bytes_, len_); }

  void OnOK() override {
    hasher_->busy = false;
    deferred_.Resolve(Env().Undefined());
  }

 private:
  Blake2bStream* hasher_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_ref_;
  Napi::Reference<Napi::TypedArray> data_ref_;
  const uint8_t* bytes_;
  size_t len_;
};

Napi::Value Blake2bStream::Update(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "update(data: Uint8Array)");
  if (finished_) throw Napi::Error::New(info.Env(), "update after digest");
  if (busy) throw Napi::Error::New(info.Env(), "an update is already in flight");
  busy = true;
  auto* worker = new UpdateWorker(this, info.This().As<Napi::Object>(), info[0].As<Napi::TypedArray>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitHashStream(Napi::Env env, Napi::Object exports) { exports.Set("Blake2bStream", Blake2bStream::Define(env)); }

}  // namespace imz
