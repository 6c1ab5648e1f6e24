// readFiles(rootFd, rels, max): the sender's side of a batch of small files read on a worker
// thread — one hand-off for the batch (`src/sync/batch-transfer.ts` `readBatch`). Each file is
// opened beneath the root (`OpenBeneath`: no symlink on the way or at the end, O_NONBLOCK), checked
// to be a regular file of at most `max` bytes, read whole (up to the size fstat gave; a file that
// shrank meanwhile is what was read) and hashed (the content hash: the first 32 bytes of
// BLAKE2b-512, hex). Resolves with [data, results]: `data` the files' bytes back to back, and per
// file either {size, mtimeNs, hash} (its bytes next in `data`) or {errno} (a negative errno, or
// -1000 not a regular file, -1001 larger than `max`), the file not read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "blake2b.h"

namespace imz {
namespace {

constexpr int kNotFile = -1000;
constexpr int kTooLarge = -1001;

struct ReadResult {
  int err = 0;  // 0, -errno, kNotFile or kTooLarge
  size_t size = 0;
  int64_t mtimeNs = 0;
  char hash[64] = {};
};

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, int root, std::vector<std::string> rels, uint64_t max)
      : Napi::AsyncWorker(env, "imz_rsync.readFiles"),
        deferred_(Napi::Promise::Deferred::New(env)),
        root_(root),
        rels_(std::move(rels)),
        max_(max),
        results_(rels_.size()) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    for (size_t i = 0; i < rels_.size(); i++) Read(rels_[i], &results_[i]);
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto data = Napi::Buffer<char>::Copy(env, data_.data(), data_.size());
    auto list = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      const ReadResult& r = results_[i];
      auto o = Napi::Object::New(env);
      if (r.err != 0) {
        o.Set("errno", r.err);
      } else {
        o.Set("size", static_cast<double>(r.size));
        o.Set("mtimeNs", std::to_string(r.mtimeNs));
        o.Set("hash", std::string(r.hash, sizeof r.hash));
      }
      list[static_cast<uint32_t>(i)] = o;
    }
    auto out = Napi::Array::New(env, 2);
    out[0u] = data;
    out[1u] = list;
    deferred_.Resolve(out);
  }

 private:
  void Read(const std::string& rel, ReadResult* r) {
    const int fd = OpenBeneath(root_, rel, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0) {
      r->err = fd;
      return;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      r->err = -errno;
    } else if (!S_ISREG(st.st_mode)) {
      r->err = kNotFile;
    } else if (static_cast<uint64_t>(st.st_size) > max_) {
      r->err = kTooLarge;
    } else {
      const size_t at = data_.size();
      const size_t want = static_cast<size_t>(st.st_size);
      data_.resize(at + want);
      size_t got = 0;
      while (got < want) {
        const ssize_t n = ::pread(fd, data_.data() + at + got, want - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          r->err = -errno;
          break;
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
      }
      data_.resize(at + (r->err == 0 ? got : 0));
      if (r->err == 0) {
        Blake2bState state;
        uint8_t full[kBlake2bBytes];
        state.Update(reinterpret_cast<const uint8_t*>(data_.data() + at), got);
        if (!state.Final(full)) {
          r->err = -ENOMEM;
          data_.resize(at);
        } else {
          static const char kHex[] = "0123456789abcdef";
          for (size_t i = 0; i < sizeof r->hash / 2; i++) {
            r->hash[2 * i] = kHex[full[i] >> 4];
            r->hash[2 * i + 1] = kHex[full[i] & 0xF];
          }
          r->size = got;
          r->mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        }
      }
    }
    ::close(fd);
  }

  Napi::Promise::Deferred deferred_;
  int root_;
  std::vector<std::string> rels_;
  uint64_t max_;
  std::vector<ReadResult> results_;
  std::vector<char> data_;
};

Napi::Value ReadFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "readFiles(rootFd: number, rels: Array<string | Buffer>, max: number)";
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsNumber()) throw Napi::TypeError::New(env, usage);
  const int root = info[0].As<Napi::Number>().Int32Value();
  auto list = info[1].As<Napi::Array>();
  const double max = info[2].As<Napi::Number>().DoubleValue();
  std::vector<std::string> rels;
  rels.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list[i];
    std::string rel;
    if (v.IsBuffer()) {
      auto b = v.As<Napi::Buffer<char>>();
      rel.assign(b.Data(), b.Length());
    } else if (v.IsString()) {
      rel = v.As<Napi::String>();
    } else {
      throw Napi::TypeError::New(env, usage);
    }
    if (rel.empty() || rel.front() == '/' || rel.back() == '/' || rel.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(env, "readFiles: each path must be relative, without a trailing '/' or NUL");
    }
    rels.push_back(std::move(rel));
  }
  auto* worker = new ReadWorker(env, root, std::move(rels), max > 0 ? static_cast<uint64_t>(max) : 0);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitReadBatch(Napi::Env env, Napi::Object exports) { exports.Set("readFiles", Napi::Function::New<ReadFiles>(env, "readFiles")); }

}  // namespace imz
