// walkDir(path): one directory read and stat'ed on a worker thread, for the scanner. The directory
// is opened once; its entries come from getdents64 and each is stat'ed with statx relative to the
// directory's descriptor (no path lookup from the root per entry). The result is one packed
// Buffer, never an object per entry, in the order fs.readdir gives (names sorted by strcmp, as
// libuv's scandir sorts them).
//
// Buffer: u32 wholeLen (little-endian; 0xFFFFFFFF for none) | u32 entries | u32 dirs |
// u32 dirAt[dirs] | digest | whole | records. `entries` counts the records after the directory's own,
// `dirAt` gives each directory record's offset from the start of the records (the scanner descends
// into those and only decodes them, without stepping through every record in JavaScript). digest (32
// bytes) only with a whole text: the whole text's fields in binary, hashed (WalkWorker::Digest), so
// a directory is digested without its text being made; the Fsdb remembers it for an unchanged
// directory (`Fsdb.matchesWhole`), so the text need not even be made or decoded next time.
// walkDir(path, skip): an entry named `skip` is left out as if it were not there (the scanner
// leaves out the root's `.intermezzo`, which it never journals and whose print moves every sync, so
// the root's whole text can match its rows).
// whole: "name/print/name/print..." over every entry in name order, made only when every entry is
// a file or directory with a plain print; the Fsdb makes the same text of a directory's rows
// (`Fsdb.childrenWhole`), so an unchanged directory is one string comparison. Names and prints
// never contain '/', so the text splits back into one sequence only.
// Records back to back, the first for the directory itself (lstat of `path`, empty name):
//   u8 kind | u8 0 | u16 nameLen | u16 printLen | u16 extraLen | name | print | extra  (u16 little-endian)
// kind: 'f' file, 'd' directory, 'l' symlink, '?' other (FIFO, socket, device), 'E' statx failed
// with an error other than ENOENT (print and extra empty; the caller stats it again to report it).
// print (ASCII): "kind:dev:ino:ctimeNs:size:mtimeNs:mode:uid:gid" with size 0 for anything but a
// file, mode the permission bits, and the numbers as Node's BigInt lstat gives them (dev from
// makedev, 64-bit values signed). It is prefixed with '!' when the inode's birth time is later than
// its ctime (it can never match the Fsdb's fingerprint then). The Fsdb computes the same text from
// a row (`Fsdb.childPrints`), so an entry whose print equals its row's is unchanged.
// extra (ASCII): "nlink:birthtimeNs".
// walkDir(path, skip, hashBelow): also reads each regular file smaller than `hashBelow` bytes and
// appends ":" and its content hash (hex, as `content-hash.ts` makes it) to its extra, on this worker
// thread: the scanner asks it for a directory all of whose entries are new (a first copy), so the
// main thread does not read and hash them. A file that cannot be read, or is not the file statx
// described when it is opened (another inode, another size) or read (another length), gets no hash
// (the scanner hashes it itself, as before). A hashed file's extra then ends in ":0" when
// flistxattr of the open file listed no extended attribute at all (the scanner need not list them).
// walkDir(path, skip, hashBelow, known): `known` is the digest the Fsdb remembers for the directory
// (32 bytes). When the whole text's digest is that one, the directory is as its rows were when the
// digest was remembered, and the scanner needs only its own record and its subdirectories': the
// Buffer then has wholeLen 0xFFFFFFFE, the digest, no whole text, and as records the directory's own
// and its subdirectories' only (dirAt indexing those), `entries` still counting every entry. (At
// 100,000 files the listings the scanner never read were about 18 KB a directory, 37 MB for both
// trees, each copied into a fresh Buffer on the event loop: 10–20 ms of its CPU in the copy and
// its page faults, and the memory until the next GC.)
// Entries that vanish between getdents64 and statx are left out. Names are bytes, valid UTF-8 or not
// (the scanner carries the others as raw names, src/journal/names.ts).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "blake2b.h"
#include "errors.h"

namespace imz {
namespace {

constexpr int64_t kNsPerSec = 1000000000;
constexpr size_t kDigestBytes = 32;

int64_t Ns(const statx_timestamp& t) { return static_cast<int64_t>(t.tv_sec) * kNsPerSec + t.tv_nsec; }

char KindOf(uint16_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'f';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    default: return '?';
  }
}

/** Writes ':' and the decimal digits of `v` (as "%lld" does) at `p`; returns the end. Room for 21 characters is the caller's. */
char* Field(char* p, int64_t v) {
  *p++ = ':';
  return std::to_chars(p, p + 20, v).ptr;
}

/**
 * Writes the content hash of regular file `name` in `dirfd` (the hex of the first 32 bytes of its
 * BLAKE2b-512) to `hex` (64 characters), reading it whole through `buf`; false when it cannot be
 * read or is not the file `st` describes (another inode, or another size when opened or read).
 * `noXattrs`: true when the open file lists no extended attribute.
 */
bool HashFile(int dirfd, const char* name, const struct statx& st, std::vector<uint8_t>* buf, char* hex, bool* noXattrs) {
  const int fd = ::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat fst;
  bool ok = ::fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode) && static_cast<uint64_t>(fst.st_ino) == st.stx_ino &&
            static_cast<uint64_t>(fst.st_size) == st.stx_size;
  Blake2bState state;
  uint64_t total = 0;
  while (ok) {
    const ssize_t n = ::read(fd, buf->data(), buf->size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    total += static_cast<uint64_t>(n);
    state.Update(buf->data(), static_cast<size_t>(n));
  }
  *noXattrs = ok && ::flistxattr(fd, nullptr, 0) == 0;
  ::close(fd);
  return ok && total == st.stx_size && state.FinalContentHex(hex);
}

/** What lstat would say of `name` in directory `dirfd`; 0 or an errno. */
int Stat(int dirfd, const char* name, int flags, struct statx* out) {
  if (::statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, out) == 0) return 0;
  return errno;
}

/** One entry as stat'ed (and, below `hashBelow`, read). */
struct Seen {
  const std::string* name;
  int err;  // 0 or statx's errno
  struct statx st;
  bool hashed;
  char hex[2 * kDigestBytes] = {};  // its content hash, when hashed
  bool noXattrs = false;            // when hashed: it lists no extended attribute
};

class WalkWorker : public Napi::AsyncWorker {
 public:
  WalkWorker(Napi::Env env, std::string path, std::string skip, uint64_t hashBelow, std::string known)
      : Napi::AsyncWorker(env, "imz_rsync.walkDir"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        skip_(std::move(skip)),
        hashBelow_(hashBelow),
        known_(std::move(known)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    std::vector<std::string> names;
    err_ = ReadNames(fd, &names);
    if (err_ == 0) {
      std::sort(names.begin(), names.end());  // std::string compares bytes as strcmp does
      struct statx self;
      const int selfErr = Stat(AT_FDCWD, path_.c_str(), 0, &self);
      // every entry stat'ed first: the digest needs no text, so an unchanged directory's files are never formatted
      std::vector<Seen> seen;
      seen.reserve(names.size());
      for (const std::string& name : names) {
        if (!skip_.empty() && name == skip_) continue;
        Seen e{&name, 0, {}, false};
        e.err = Stat(fd, name.c_str(), 0, &e.st);
        if (e.err == ENOENT) continue;
        if (e.err == 0 && S_ISREG(e.st.stx_mode) && e.st.stx_size < hashBelow_) e.hashed = HashFile(fd, name.c_str(), e.st, &readBuf_, e.hex, &e.noXattrs);
        plain_ = plain_ && e.err == 0 && (S_ISREG(e.st.stx_mode) || S_ISDIR(e.st.stx_mode)) && Ns(e.st.stx_btime) <= Ns(e.st.stx_ctime);
        seen.push_back(std::move(e));
      }
      if (plain_) Digest(seen);
      omitted_ = plain_ && known_.size() == kDigestBytes && std::memcmp(digest_, known_.data(), kDigestBytes) == 0;
      // room for every record and the whole text at once (about 80 bytes an entry), not grown byte by byte
      out_.reserve(128 + (omitted_ ? 0 : 96 * seen.size()));
      if (plain_ && !omitted_) whole_.reserve(96 * seen.size());
      Append("", selfErr, self);
      for (const Seen& e : seen) {
        if (omitted_ && !S_ISDIR(e.st.stx_mode)) {
          entries_++;  // counted, not sent
          continue;
        }
        Append(*e.name, e.err, e.st, e.hashed ? &e : nullptr);
      }
    }
    ::close(fd);
  }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, "scandir", path_).Value());
      return;
    }
    if (omitted_) return ResolveOmitted();
    const uint32_t wholeLen = plain_ ? static_cast<uint32_t>(whole_.size()) : 0xFFFFFFFFu;
    const size_t size = 12 + 4 * dirAt_.size() + (plain_ ? kDigestBytes + whole_.size() : 0) + out_.size();
    auto buf = Napi::Buffer<char>::New(Env(), size);
    char* p = buf.Data();
    for (const uint32_t v : {wholeLen, entries_, static_cast<uint32_t>(dirAt_.size())}) p = U32(p, v);
    for (const uint32_t v : dirAt_) p = U32(p, v);
    if (plain_) p = std::copy(digest_, digest_ + kDigestBytes, p);
    if (plain_) p = std::copy(whole_.begin(), whole_.end(), p);
    std::copy(out_.begin(), out_.end(), p);
    deferred_.Resolve(buf);
  }

 private:
  /** Resolves with the digest, the directory's own record and its subdirectories' (its digest was `known_`). */
  void ResolveOmitted() {
    const size_t selfLen = RecordLen(0);
    size_t size = 12 + 4 * dirAt_.size() + kDigestBytes + selfLen;
    for (const uint32_t at : dirAt_) size += RecordLen(at);
    auto buf = Napi::Buffer<char>::New(Env(), size);
    char* p = buf.Data();
    for (const uint32_t v : {0xFFFFFFFEu, entries_, static_cast<uint32_t>(dirAt_.size())}) p = U32(p, v);
    uint32_t at = static_cast<uint32_t>(selfLen);
    for (const uint32_t from : dirAt_) {
      p = U32(p, at);
      at += static_cast<uint32_t>(RecordLen(from));
    }
    p = std::copy(digest_, digest_ + kDigestBytes, p);
    p = std::copy(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(selfLen), p);
    for (const uint32_t from : dirAt_) p = std::copy(out_.begin() + from, out_.begin() + static_cast<std::ptrdiff_t>(from + RecordLen(from)), p);
    deferred_.Resolve(buf);
  }

  /** Bytes of the record at offset `at` of `out_`. */
  size_t RecordLen(size_t at) const {
    const auto u16 = [&](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(out_[at + i])) | static_cast<size_t>(static_cast<uint8_t>(out_[at + i + 1])) << 8; };
    return 8 + u16(2) + u16(4) + u16(6);
  }

  /** Writes `v` little-endian at `p`; returns the end. */
  static char* U32(char* p, uint32_t v) {
    for (int i = 0; i < 4; i++) *p++ = static_cast<char>((v >> (8 * i)) & 0xFF);
    return p;
  }

  /** Every entry's name but "." and ".."; 0 or an errno. */
  static int ReadNames(int fd, std::vector<std::string>* names) {
    alignas(8) char buf[32768];
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return 0;
      for (long off = 0; off < n;) {
        // linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[]
        uint16_t reclen;
        std::memcpy(&reclen, buf + off + 16, sizeof reclen);
        const char* name = buf + off + 19;
        off += reclen;
        const size_t len = std::strlen(name);
        if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) continue;
        names->emplace_back(name, len);
      }
    }
  }

  /**
   * The directory's digest: the first 32 bytes of the BLAKE2b-512 of, for each entry in name order,
   * its name, a NUL, its kind, and the fields its print shows (dev, ino, ctimeNs, size — 0 for a
   * directory — mtimeNs, permission bits, uid, gid) as 64-bit little-endian numbers: the whole text
   * in binary, so equal digests mean equal texts without the text being made. Without one, no whole text.
   */
  void Digest(const std::vector<Seen>& seen) {
    Blake2bState state;
    for (const Seen& e : seen) {
      const struct statx& st = e.st;
      const bool file = S_ISREG(st.stx_mode);
      uint8_t fields[1 + 8 * 8];
      fields[0] = file ? 'f' : 'd';
      const int64_t values[] = {static_cast<int64_t>(makedev(st.stx_dev_major, st.stx_dev_minor)), static_cast<int64_t>(st.stx_ino), Ns(st.stx_ctime), file ? static_cast<int64_t>(st.stx_size) : 0,
                                Ns(st.stx_mtime), static_cast<int64_t>(st.stx_mode & 07777u), static_cast<int64_t>(st.stx_uid), static_cast<int64_t>(st.stx_gid)};
      for (size_t i = 0; i < 8; i++) {
        for (int b = 0; b < 8; b++) fields[1 + 8 * i + b] = static_cast<uint8_t>(static_cast<uint64_t>(values[i]) >> (8 * b));
      }
      state.Update(reinterpret_cast<const uint8_t*>(e.name->data()), e.name->size() + 1);  // with its NUL
      state.Update(fields, sizeof fields);
    }
    uint8_t full[kBlake2bBytes];
    if (state.Final(full)) {
      std::copy(full, full + kDigestBytes, digest_);
    } else {
      plain_ = false;
    }
  }

  /** Appends the record of `name` (`read`: what the walk read of it, when it hashed it), and its part of the whole text. */
  void Append(const std::string& name, int err, const struct statx& st, const Seen* read = nullptr) {
    char print[256] = "";
    char extra[64 + 1 + 2 * kDigestBytes + 2] = "";
    char kind = 'E';
    if (err == 0) {
      kind = KindOf(st.stx_mode);
      const uint64_t dev = makedev(st.stx_dev_major, st.stx_dev_minor);
      const int64_t ctime = Ns(st.stx_ctime);
      const int64_t birth = Ns(st.stx_btime);
      const int64_t size = kind == 'f' ? static_cast<int64_t>(st.stx_size) : 0;
      // the text snprintf("%s%c:%lld:%lld:%lld:%lld:%lld:%u:%u:%u") would make, without its format parsing
      // (a tenth of the walk's CPU)
      char* p = print;
      if (birth > ctime) *p++ = '!';
      *p++ = kind;
      for (const int64_t v : {static_cast<int64_t>(dev), static_cast<int64_t>(st.stx_ino), ctime, size, Ns(st.stx_mtime)}) p = Field(p, v);
      for (const uint32_t v : {st.stx_mode & 07777u, st.stx_uid, st.stx_gid}) p = Field(p, static_cast<int64_t>(v));
      *p = '\0';
      p = std::to_chars(extra, extra + sizeof extra, st.stx_nlink).ptr;
      p = Field(p, birth);
      if (read != nullptr) {
        *p++ = ':';
        p = std::copy(read->hex, read->hex + 2 * kDigestBytes, p);
        if (read->noXattrs) p = std::copy(":0", ":0" + 2, p);
      }
      *p = '\0';
    }
    const size_t printLen = std::strlen(print);
    if (!name.empty()) {
      entries_++;
      if (kind == 'd') dirAt_.push_back(static_cast<uint32_t>(out_.size()));
      if (plain_ && !omitted_) {
        if (!whole_.empty()) whole_ += '/';
        whole_.append(name).append(1, '/').append(print, printLen);
      }
    }
    const size_t extraLen = std::strlen(extra);
    out_.push_back(kind);
    out_.push_back(0);
    for (const size_t len : {name.size(), printLen, extraLen}) {
      out_.push_back(static_cast<char>(len & 0xFF));
      out_.push_back(static_cast<char>(len >> 8));
    }
    out_.insert(out_.end(), name.begin(), name.end());
    out_.insert(out_.end(), print, print + printLen);
    out_.insert(out_.end(), extra, extra + extraLen);
  }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::string skip_;  // a name left out ("" for none)
  uint64_t hashBelow_;  // regular files smaller than this are read and hashed (0: none)
  std::string known_;   // the digest the Fsdb remembers for the directory ("" for none)
  bool omitted_ = false;  // the digest is known_: only the directory's own record and its subdirectories' are sent
  std::vector<uint8_t> readBuf_ = std::vector<uint8_t>(hashBelow_ > 0 ? 65536 : 0);
  std::vector<char> out_;
  std::vector<uint32_t> dirAt_;  // offsets in out_ of the directory records
  uint32_t entries_ = 0;
  std::string whole_;
  char digest_[kDigestBytes] = {};
  bool plain_ = true;  // every entry a file or directory with a plain print
  int err_ = 0;
};

Napi::Value WalkDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (info.Length() >= 1 && info[0].IsBuffer()) {
    auto b = info[0].As<Napi::Buffer<char>>();
    path.assign(b.Data(), b.Length());
  } else if (info.Length() >= 1 && info[0].IsString()) {
    path = info[0].As<Napi::String>();
  } else {
    throw Napi::TypeError::New(env, "walkDir(path: string | Buffer, skip?: string, hashBelow?: number, known?: Buffer)");
  }
  if (path.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "walkDir: path contains NUL");
  std::string skip;
  if (info.Length() >= 2 && info[1].IsString()) skip = info[1].As<Napi::String>();
  const double hashBelow = info.Length() >= 3 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
  std::string known;
  if (info.Length() >= 4 && info[3].IsBuffer()) {
    auto b = info[3].As<Napi::Buffer<char>>();
    known.assign(b.Data(), b.Length());
  }
  auto* worker = new WalkWorker(env, std::move(path), std::move(skip), hashBelow > 0 ? static_cast<uint64_t>(hashBelow) : 0, std::move(known));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitWalk(Napi::Env env, Napi::Object exports) { exports.Set("walkDir", Napi::Function::New<WalkDir>(env, "walkDir")); }

}  // namespace imz
