// stageFiles(dirFd, data, names, offsets, sizes, hashes): a batch of small files' bytes staged as
// temp files on a worker thread — one hand-off for the whole batch, so the receiver of a batched
// transfer (`src/sync/batch-transfer.ts`) neither hashes nor creates files on the event loop. For
// each item, bytes [offset, offset + size) of `data` are hashed (the content hash: the first 32 bytes
// of BLAKE2b-512, compared with the item's hex) and, when they match, written to a new file `name`
// created in the open directory `dirFd` (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600: never through a
// symlink, never over an existing file). Resolves with an Int32Array, per item: 0 written, -1 its
// bytes do not match its hash (nothing created), an errno when creating or writing it failed (the
// file is removed and the items after it are not tried: -2). Durability is the caller's (one
// syncfs for the window, `Holding.makeDurable`).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "blake2b.h"

namespace imz {
namespace {

struct StageItem {
  std::string name;
  size_t offset;
  size_t size;
  std::string hash;  // hex
};

/** True when `data` hashes to `hex` (the content hash, 64 lowercase hex characters). */
bool HashMatches(const uint8_t* data, size_t size, const std::string& hex) {
  Blake2bState state;
  char ours[2 * kContentHashBytes];
  state.Update(data, size);
  return state.FinalContentHex(ours) && hex.size() == sizeof ours && hex.compare(0, sizeof ours, ours, sizeof ours) == 0;
}

/** Creates `name` in `dir` holding `data`; 0 or an errno (the file removed again). */
int WriteNew(int dir, const std::string& name, const uint8_t* data, size_t size) {
  const int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  int err = 0;
  for (size_t off = 0; off < size && err == 0;) {
    const ssize_t n = ::write(fd, data + off, size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    else off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
  if (err != 0) ::unlinkat(dir, name.c_str(), 0);
  return err;
}

class StageWorker : public Napi::AsyncWorker {
 public:
  StageWorker(Napi::Env env, int dir, Napi::Buffer<uint8_t> data, std::vector<StageItem> items)
      : Napi::AsyncWorker(env, "imz_rsync.stageFiles"),
        deferred_(Napi::Promise::Deferred::New(env)),
        dir_(dir),
        dataRef_(Napi::Persistent(data)),
        data_(data.Data()),
        items_(std::move(items)),
        status_(items_.size(), -2) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    for (size_t i = 0; i < items_.size(); i++) {
      const StageItem& it = items_[i];
      const uint8_t* bytes = data_ + it.offset;
      if (!HashMatches(bytes, it.size, it.hash)) {
        status_[i] = -1;
        continue;
      }
      status_[i] = WriteNew(dir_, it.name, bytes, it.size);
      if (status_[i] != 0) return;
    }
  }

  void OnOK() override {
    auto out = Napi::Int32Array::New(Env(), status_.size());
    for (size_t i = 0; i < status_.size(); i++) out[i] = status_[i];
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int dir_;
  Napi::Reference<Napi::Buffer<uint8_t>> dataRef_;  // keeps `data_` alive while the worker reads it
  const uint8_t* data_;
  std::vector<StageItem> items_;
  std::vector<int32_t> status_;
};

Napi::Value StageFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "stageFiles(dirFd: number, data: Buffer, names: string[], offsets: number[], sizes: number[], hashes: string[])";
  if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsArray() || !info[3].IsArray() || !info[4].IsArray() ||
      !info[5].IsArray()) {
    throw Napi::TypeError::New(env, usage);
  }
  const int dir = info[0].As<Napi::Number>().Int32Value();
  auto data = info[1].As<Napi::Buffer<uint8_t>>();
  auto names = info[2].As<Napi::Array>();
  auto offsets = info[3].As<Napi::Array>();
  auto sizes = info[4].As<Napi::Array>();
  auto hashes = info[5].As<Napi::Array>();
  const uint32_t n = names.Length();
  if (offsets.Length() != n || sizes.Length() != n || hashes.Length() != n) throw Napi::TypeError::New(env, usage);
  std::vector<StageItem> items;
  items.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value name = names[i], offset = offsets[i], size = sizes[i], hash = hashes[i];
    if (!name.IsString() || !offset.IsNumber() || !size.IsNumber() || !hash.IsString()) throw Napi::TypeError::New(env, usage);
    const int64_t at = offset.As<Napi::Number>().Int64Value();
    const int64_t len = size.As<Napi::Number>().Int64Value();
    if (at < 0 || len < 0 || static_cast<uint64_t>(at) + static_cast<uint64_t>(len) > data.Length()) {
      throw Napi::RangeError::New(env, "stageFiles: an item outside the data");
    }
    std::string nm = name.As<Napi::String>();
    if (nm.empty() || nm.find('/') != std::string::npos || nm.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "stageFiles: a name must be one path component");
    items.push_back({std::move(nm), static_cast<size_t>(at), static_cast<size_t>(len), hash.As<Napi::String>()});
  }
  auto* worker = new StageWorker(env, dir, data, std::move(items));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitStage(Napi::Env env, Napi::Object exports) { exports.Set("stageFiles", Napi::Function::New<StageFiles>(env, "stageFiles")); }

}  // namespace imz
