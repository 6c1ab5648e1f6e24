// The page cache of files being rewritten. copyRanges(out, pieces), on a worker thread, writes each
// piece [fd, from, to, length, release] — `length` bytes of file `fd` from offset `from` — to
// offset `to` of file `out`, with copy_file_range(2): page cache to page cache, one copy and no
// JavaScript buffer, where a read and a write through Node make two copies and two thread-pool
// trips per buffer. It neither reads nor moves either file's position, so other writes to `out`
// at other offsets may go on meanwhile. A kernel or filesystem that cannot (ENOSYS, EXDEV,
// EOPNOTSUPP, EINVAL) gets pread/pwrite through a buffer instead; a source that ends early leaves
// zeros (the caller's contract says it never does). A piece with `release` set has its source's
// cached pages released once copied (releaseCache). releaseCache(fd, offset, length) asks the
// kernel to drop a file's clean cached pages in a range (posix_fadvise POSIX_FADV_DONTNEED; dirty
// pages are only written back): for a version about to be replaced, whose bytes a patch has
// consumed, so that the new version's pages are those pages rather than memory taken afresh.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace imz {
namespace {

struct Piece {
  int fd;
  int64_t from;
  int64_t to;
  int64_t length;
  bool release;
};

/** Bytes copied between two releases of a piece's source pages. */
constexpr int64_t kReleaseEvery = 8 << 20;

/** Whether copy_file_range's failure `err` means "not here": copy through a buffer instead. */
bool Unsupported(int err) { return err == ENOSYS || err == EXDEV || err == EOPNOTSUPP || err == EINVAL; }

/** pwrite of all of `buf[0, n)` at `at`; 0 or an errno. */
int WriteAll(int out, const char* buf, size_t n, int64_t at) {
  for (size_t done = 0; done < n;) {
    const ssize_t w = ::pwrite(out, buf + done, n - done, at + static_cast<int64_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(w);
  }
  return 0;
}

/** Copies `p` through a buffer (pread, pwrite); bytes past the source's end are written as zeros. 0 or an errno (and which call failed). */
int CopyBuffered(int out, const Piece& p, int64_t done, std::vector<char>& buf, const char** syscall) {
  if (buf.empty()) buf.resize(1 << 20);
  bool ended = false;
  while (done < p.length) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), p.length - done));
    ssize_t got = 0;
    if (!ended) {
      got = ::pread(p.fd, buf.data(), want, p.from + done);
      if (got < 0) {
        if (errno == EINTR) continue;
        *syscall = "pread";
        return errno;
      }
      if (got == 0) ended = true;
    }
    if (ended) {
      std::memset(buf.data(), 0, want);
      got = static_cast<ssize_t>(want);
    }
    if (const int err = WriteAll(out, buf.data(), static_cast<size_t>(got), p.to + done)) {
      *syscall = "pwrite";
      return err;
    }
    done += got;
  }
  return 0;
}

/** Copies every piece to `out`; 0 or an errno (and which call failed). */
int CopyAll(int out, const std::vector<Piece>& pieces, const char** syscall) {
  std::vector<char> buf;
  bool kernel = true;
  for (const Piece& p : pieces) {
    int64_t done = 0;
    int64_t released = 0;
    while (kernel && done < p.length) {
      if (p.release && done - released >= kReleaseEvery) {
        ::posix_fadvise(p.fd, p.from + released, done - released, POSIX_FADV_DONTNEED);  // a hint; its failure changes nothing
        released = done;
      }
      loff_t from = p.from + done;
      loff_t to = p.to + done;
      const size_t step = static_cast<size_t>(p.release ? std::min(kReleaseEvery, p.length - done) : p.length - done);
      const ssize_t n = ::copy_file_range(p.fd, &from, out, &to, step, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && !Unsupported(errno)) {
        *syscall = "copy_file_range";
        return errno;
      }
      if (n <= 0) {
        kernel = n == 0;  // 0: the source ended early (zeros below); an error: never try the kernel again
        break;
      }
      done += n;
    }
    if (done < p.length) {
      if (const int err = CopyBuffered(out, p, done, buf, syscall)) return err;
    }
    if (p.release) ::posix_fadvise(p.fd, p.from + released, p.length - released, POSIX_FADV_DONTNEED);
  }
  return 0;
}

class CopyWorker : public Napi::AsyncWorker {
 public:
  CopyWorker(Napi::Env env, int out, std::vector<Piece> pieces)
      : Napi::AsyncWorker(env, "imz_rsync.copyRanges"), deferred_(Napi::Promise::Deferred::New(env)), out_(out), pieces_(std::move(pieces)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { err_ = CopyAll(out_, pieces_, &syscall_); }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, syscall_, "").Value());
    } else {
      deferred_.Resolve(Env().Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  int out_;
  std::vector<Piece> pieces_;
  int err_ = 0;
  const char* syscall_ = "copy_file_range";
};

Napi::Value CopyRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "copyRanges(out: number, pieces: Float64Array /* fd, from, to, length, release, … */)";
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray()) throw Napi::TypeError::New(env, usage);
  const int out = info[0].As<Napi::Number>().Int32Value();
  Napi::TypedArray typed = info[1].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_float64_array || typed.ElementLength() % 5 != 0) throw Napi::TypeError::New(env, usage);
  Napi::Float64Array list = typed.As<Napi::Float64Array>();
  std::vector<Piece> pieces;
  for (size_t i = 0; i < list.ElementLength(); i += 5) {
    const Piece p{static_cast<int>(list[i]), static_cast<int64_t>(list[i + 1]), static_cast<int64_t>(list[i + 2]), static_cast<int64_t>(list[i + 3]), list[i + 4] != 0};
    if (p.fd < 0 || p.from < 0 || p.to < 0 || p.length < 0) throw Napi::RangeError::New(env, "copyRanges: negative argument");
    if (p.length > 0) pieces.push_back(p);
  }
  if (out < 0) throw Napi::RangeError::New(env, "copyRanges: negative descriptor");
  auto* worker = new CopyWorker(env, out, std::move(pieces));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ReleaseCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "releaseCache(fd: number, offset: number, length: number)");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int64_t offset = info[1].As<Napi::Number>().Int64Value();
  const int64_t length = info[2].As<Napi::Number>().Int64Value();
  if (fd < 0 || offset < 0 || length < 0) throw Napi::RangeError::New(env, "releaseCache: negative argument");
  const int err = ::posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED);  // returns the error number
  if (err != 0) throw ErrnoError(env, err, "posix_fadvise", "");
  return env.Undefined();
}

}  // namespace

void InitCopyRange(Napi::Env env, Napi::Object exports) {
  exports.Set("copyRanges", Napi::Function::New<CopyRanges>(env, "copyRanges"));
  exports.Set("releaseCache", Napi::Function::New<ReleaseCache>(env, "releaseCache"));
}

}  // namespace imz
