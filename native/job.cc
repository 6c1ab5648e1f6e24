#include "job.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace imz {
namespace {

constexpr size_t kSignatureOut = 256 * 1024;
constexpr size_t kDeltaOut = 1024 * 1024;
constexpr size_t kPatchOut = 4 * 1024 * 1024;

Napi::Error ParamError(Napi::Env env, const std::string& why) {
  return RsError(env, RS_PARAM_ERROR, why, LogList{});
}

Napi::Object StatsToJs(Napi::Env env, const rs_stats_t& s, double in_bytes, double out_bytes) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("literalCommands", Napi::Number::New(env, s.lit_cmds));
  o.Set("literalBytes", Napi::Number::New(env, static_cast<double>(s.lit_bytes)));
  o.Set("literalCommandBytes", Napi::Number::New(env, static_cast<double>(s.lit_cmdbytes)));
  o.Set("copyCommands", Napi::Number::New(env, static_cast<double>(s.copy_cmds)));
  o.Set("copyBytes", Napi::Number::New(env, static_cast<double>(s.copy_bytes)));
  o.Set("copyCommandBytes", Napi::Number::New(env, static_cast<double>(s.copy_cmdbytes)));
  o.Set("falseMatches", Napi::Number::New(env, s.false_matches));
  o.Set("signatureBlocks", Napi::Number::New(env, static_cast<double>(s.sig_blocks)));
  o.Set("blockLength", Napi::Number::New(env, static_cast<double>(s.block_len)));
  o.Set("inBytes", Napi::Number::New(env, in_bytes));
  o.Set("outBytes", Napi::Number::New(env, out_bytes));
  return o;
}

/**
 * Output blocks are reused: a fresh multi-megabyte malloc per step is served by mmap (or trimmed
 * back to the kernel), and its page faults cost more than librsync's own work for a patch.
 */
class BlockPool {
 public:
  char* Take(size_t size) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->first == size) {
          char* block = it->second;
          free_.erase(it);
          return block;
        }
      }
    }
    return static_cast<char*>(std::malloc(size));
  }

  void Give(char* block, size_t size) {
    if (block == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (free_.size() < kMaxPooled) {
        free_.emplace_back(size, block);
        return;
      }
    }
    std::free(block);
  }

 private:
  static constexpr size_t kMaxPooled = 12;
  std::mutex mutex_;
  std::vector<std::pair<size_t, char*>> free_;
};

// Never destroyed: buffer finalizers may still run while the process exits.
BlockPool& pool = *new BlockPool();

void FreeOutput(Napi::Env env, char* data, size_t* size) {
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(*size));
  pool.Give(data, *size);
  delete size;
}

}  // namespace

/** Runs rs_job_iter on a worker thread until the input is used up, the output is full, or the job ends. */
class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Job* job, Napi::Object job_obj, Napi::Uint8Array input, bool eof)
      : Napi::AsyncWorker(job_obj.Env(), "imz_rsync.step"),
        job_(job),
        deferred_(Napi::Promise::Deferred::New(job_obj.Env())),
        in_(reinterpret_cast<char*>(input.Data())),
        in_len_(input.ByteLength()),
        eof_(eof) {
    job_ref_ = Napi::Persistent(job_obj);
    input_ref_ = Napi::Persistent(input);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    TraceScope scope(&log_);
    const size_t cap = job_->out_capacity_;
    if (cap > 0) {
      out_ = pool.Take(cap);
      if (out_ == nullptr) {
        result_ = RS_MEM_ERROR;
        return;
      }
    }
    rs_buffers_t b{};
    b.next_in = in_;
    b.avail_in = in_len_;
    b.eof_in = eof_ ? 1 : 0;
    b.next_out = out_;
    b.avail_out = cap;
    for (;;) {
      const size_t in_before = b.avail_in, out_before = b.avail_out;
      const rs_result r = rs_job_iter(job_->job_, &b);
      if (r == RS_DONE) {
        done_ = true;
        break;
      }
      if (r != RS_BLOCKED) {
        result_ = r;
        break;
      }
      if (cap > 0 && b.avail_out == 0) break;  // output full: the caller steps again
      if (b.avail_in == 0 && !eof_) break;      // needs more input
      if (b.avail_in == in_before && b.avail_out == out_before) {
        // Blocked with nothing left to give it: the input ended in the middle of something.
        result_ = eof_ ? RS_INPUT_ENDED : RS_INTERNAL_ERROR;
        break;
      }
    }
    consumed_ = in_len_ - b.avail_in;
    out_len_ = cap - b.avail_out;
    if (result_ == RS_DONE && done_ && job_->kind_ == Job::Kind::kLoadSig) IndexSignature();
  }

  void OnOK() override {
    Napi::Env env = Env();
    job_->busy_ = false;
    if (!job_->pending_log_.empty()) {
      log_.insert(log_.begin(), job_->pending_log_.begin(), job_->pending_log_.end());
      job_->pending_log_.clear();
    }
    job_->in_bytes_ += static_cast<double>(consumed_);
    job_->out_bytes_ += static_cast<double>(out_len_);
    if (result_ != RS_DONE && job_->copy_errno_ != 0 && result_ == RS_IO_ERROR) {
      detail_ = std::string("reading the basis: ") + std::strerror(job_->copy_errno_);
    }
    if (result_ != RS_DONE || done_) {
      job_->failed_ = result_;
      job_->done_ = done_ && result_ == RS_DONE;
      if (job_->done_ && job_->kind_ == Job::Kind::kLoadSig) {
        job_->loaded_ref_ = Napi::Persistent(Signature::Wrap(env, job_->loaded_, block_len_, blocks_));
        job_->loaded_ = nullptr;
      }
      job_->Finish();
    }
    if (result_ != RS_DONE) {
      pool.Give(out_, job_->out_capacity_);
      deferred_.Reject(RsError(env, result_, detail_, log_).Value());
      return;
    }
    Napi::Object res = Napi::Object::New(env);
    res.Set("consumed", Napi::Number::New(env, static_cast<double>(consumed_)));
    res.Set("output", TakeOutput(env));
    res.Set("done", Napi::Boolean::New(env, done_));
    res.Set("log", LogToJs(env, log_));
    deferred_.Resolve(res);
  }

 private:
  void IndexSignature() {
    const rs_stats_t* s = rs_job_statistics(job_->job_);
    block_len_ = static_cast<int>(s->block_len);
    blocks_ = static_cast<double>(s->sig_blocks);
    if (s->block_len > static_cast<size_t>(kMaxBlockLen)) {
      result_ = RS_CORRUPT;
      detail_ = "signature block length " + std::to_string(s->block_len) + " is implausibly large";
      return;
    }
    result_ = rs_build_hash_table(job_->loaded_);
  }

  Napi::Value TakeOutput(Napi::Env env) {
    if (out_len_ == 0) {
      pool.Give(out_, job_->out_capacity_);
      return Napi::Buffer<char>::New(env, 0);
    }
    if (out_len_ < job_->out_capacity_ / 2) {
      Napi::Buffer<char> copy = Napi::Buffer<char>::Copy(env, out_, out_len_);
      pool.Give(out_, job_->out_capacity_);
      return copy;
    }
    Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(job_->out_capacity_));
    return Napi::Buffer<char>::New(env, out_, out_len_, FreeOutput, new size_t(job_->out_capacity_));
  }

  Job* job_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference job_ref_;
  Napi::Reference<Napi::Uint8Array> input_ref_;
  char* in_;
  size_t in_len_;
  bool eof_;
  char* out_ = nullptr;
  size_t out_len_ = 0;
  size_t consumed_ = 0;
  bool done_ = false;
  rs_result result_ = RS_DONE;
  std::string detail_;
  LogList log_;
  int block_len_ = 0;
  double blocks_ = 0;
};

Napi::Function Job::Define(Napi::Env env) {
  return DefineClass(env, "Job",
                     {InstanceMethod<&Job::Step>("step"), InstanceMethod<&Job::Stats>("stats"),
                      InstanceMethod<&Job::Close>("close"), InstanceMethod<&Job::TakeSignature>("signature"),
                      InstanceAccessor<&Job::GetMagic>("magic"),
                      InstanceAccessor<&Job::GetBlockLength>("blockLength"),
                      InstanceAccessor<&Job::GetStrongLength>("strongLength")});
}

Job::Job(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Job>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw ParamError(env, "job kind must be a string");
  const std::string kind = info[0].As<Napi::String>();
  if (kind == "signature") {
    InitSignature(info);
  } else if (kind == "loadsig") {
    kind_ = Kind::kLoadSig;
    job_ = rs_loadsig_begin(&loaded_);
  } else if (kind == "delta") {
    InitDelta(info);
  } else if (kind == "patch") {
    InitPatch(info);
  } else {
    throw ParamError(env, "unknown job kind '" + kind + "'");
  }
}

void Job::InitSignature(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kind_ = Kind::kSignature;
  out_capacity_ = kSignatureOut;
  for (size_t i = 1; i <= 4; i++) {
    if (info.Length() <= i || !info[i].IsNumber()) throw ParamError(env, "signature job needs four numbers");
  }
  const int64_t magic = info[1].As<Napi::Number>().Int64Value();
  const int64_t block = info[2].As<Napi::Number>().Int64Value();
  const int64_t strong = info[3].As<Napi::Number>().Int64Value();
  const int64_t fsize = info[4].As<Napi::Number>().Int64Value();
  if (block < 0 || block > kMaxBlockLen) throw ParamError(env, "block length out of range");
  if (strong < -1 || strong > RS_MAX_STRONG_SUM_LENGTH) throw ParamError(env, "strong sum length out of range");
  magic_ = static_cast<rs_magic_number>(magic);
  block_len_ = static_cast<size_t>(block);
  strong_len_ = static_cast<size_t>(strong);
  TraceScope scope(&pending_log_);
  const rs_result r = rs_sig_args(fsize < 0 ? -1 : fsize, &magic_, &block_len_, &strong_len_);
  if (r != RS_DONE) throw RsError(env, r, "", pending_log_);
  job_ = rs_sig_begin(block_len_, strong_len_, magic_);
}

void Job::InitDelta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kind_ = Kind::kDelta;
  out_capacity_ = kDeltaOut;
  if (info.Length() < 2 || !info[1].IsObject() ||
      !info[1].As<Napi::Object>().InstanceOf(GetAddonData(env).signature_ctor.Value())) {
    throw ParamError(env, "delta job needs a loaded Signature");
  }
  Signature* sig = Signature::Unwrap(info[1].As<Napi::Object>());
  if (!sig->Lease()) throw ParamError(env, "signature is in use by another delta job or was disposed");
  sig_ = sig;
  sig_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  job_ = rs_delta_begin(sig->get());
}

void Job::InitPatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kind_ = Kind::kPatch;
  out_capacity_ = kPatchOut;
  if (info.Length() >= 2 && info[1].IsNumber()) {
    const int fd = info[1].As<Napi::Number>().Int32Value();
    if (fd < 0) throw ParamError(env, "basis file descriptor must be >= 0");
    // Our own duplicate: the caller may close its descriptor while a step is still reading.
    basis_fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (basis_fd_ < 0) throw RsError(env, RS_IO_ERROR, std::string("basis descriptor: ") + std::strerror(errno), LogList{});
  } else if (info.Length() >= 2 && info[1].IsTypedArray() &&
             info[1].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
    basis_ref_ = Napi::Persistent(bytes);
    basis_data_ = bytes.Data();
    basis_len_ = bytes.ByteLength();
  } else {
    throw ParamError(env, "patch job needs a basis file descriptor or Uint8Array");
  }
  job_ = rs_patch_begin(&Job::CopyFromBasis, this);
}

Job::~Job() {
  if (job_ != nullptr) rs_job_free(job_);
  if (loaded_ != nullptr) rs_free_sumset(loaded_);
  if (sig_ != nullptr) sig_->Release();
  if (basis_fd_ >= 0) close(basis_fd_);
}

void Job::Finish() {
  if (job_ != nullptr) {
    stats_ = *rs_job_statistics(job_);
    rs_job_free(job_);
    job_ = nullptr;
  }
  if (loaded_ != nullptr) {
    rs_free_sumset(loaded_);
    loaded_ = nullptr;
  }
  if (sig_ != nullptr) {
    sig_->Release();
    sig_ = nullptr;
    sig_ref_.Reset();
  }
  basis_ref_.Reset();
  basis_data_ = nullptr;
  if (basis_fd_ >= 0) {
    close(basis_fd_);
    basis_fd_ = -1;
  }
}

rs_result Job::CopyFromBasis(void* opaque, rs_long_t pos, size_t* len, void** buf) {
  Job* self = static_cast<Job*>(opaque);
  if (pos < 0) return RS_CORRUPT;
  if (self->basis_fd_ < 0) {
    const size_t upos = static_cast<size_t>(pos);
    if (upos >= self->basis_len_) return RS_INPUT_ENDED;
    if (*len > self->basis_len_ - upos) *len = self->basis_len_ - upos;
    std::memcpy(*buf, self->basis_data_ + upos, *len);
    return RS_DONE;
  }
  ssize_t got;
  do {
    got = pread(self->basis_fd_, *buf, *len, static_cast<off_t>(pos));
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    self->copy_errno_ = errno;
    return RS_IO_ERROR;
  }
  if (got == 0) return RS_INPUT_ENDED;  // a COPY past the end of the basis
  *len = static_cast<size_t>(got);
  return RS_DONE;
}

Napi::Value Job::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (busy_) throw ParamError(env, "a step is already in flight on this job");
  if (failed_ != RS_DONE) throw RsError(env, failed_, "the job already failed", LogList{});
  if (done_ || job_ == nullptr) throw ParamError(env, "the job has ended");
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsBoolean()) {
    throw ParamError(env, "step(input: Uint8Array, eof: boolean)");
  }
  auto* worker = new StepWorker(this, Value(), info[0].As<Napi::Uint8Array>(), info[1].As<Napi::Boolean>());
  busy_ = true;
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value Job::Stats(const Napi::CallbackInfo& info) {
  const rs_stats_t& s = job_ != nullptr && !busy_ ? *rs_job_statistics(job_) : stats_;
  return StatsToJs(info.Env(), s, in_bytes_, out_bytes_);
}

Napi::Value Job::Close(const Napi::CallbackInfo& info) {
  if (busy_) throw ParamError(info.Env(), "cannot close a job while a step is in flight");
  Finish();
  return info.Env().Undefined();
}

Napi::Value Job::TakeSignature(const Napi::CallbackInfo& info) {
  if (kind_ != Kind::kLoadSig || loaded_ref_.IsEmpty()) {
    throw ParamError(info.Env(), "no loaded signature: the loadsig job has not completed");
  }
  return loaded_ref_.Value();
}

Napi::Value Job::GetMagic(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(magic_));
}

Napi::Value Job::GetBlockLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(block_len_));
}

Napi::Value Job::GetStrongLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(strong_len_));
}

}  // namespace imz
