// One librsync streaming job (signature, load signature, delta or patch) driven from JavaScript.
#pragma once
#include <librsync.h>
#include <napi.h>

#include "signature.h"
#include "trace.h"

namespace imz {

/**
 * A librsync job. JavaScript feeds input with step(input, eof), which runs rs_job_iter on a libuv
 * worker thread (never on the event loop) and resolves with {consumed, output, done, log}. Only one
 * step may be in flight; a second concurrent call throws an error with code RS_PARAM_ERROR.
 *
 * Constructed as:
 *   new Job("signature", magic, blockLen, strongLen, fileSize)  // 0 = librsync's recommendation
 *   new Job("loadsig")                                          // then signature() when done
 *   new Job("delta", signature)                                 // leases the Signature
 *   new Job("patch", basis)                                     // basis: fd (pread) or Uint8Array
 *
 * Invariants: rs_job_free runs exactly once (when the job ends, fails, is closed or collected);
 * a busy job is never freed (the worker holds a reference to its JavaScript object).
 */
class Job : public Napi::ObjectWrap<Job> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Job(const Napi::CallbackInfo& info);
  ~Job() override;

 private:
  friend class StepWorker;
  enum class Kind { kSignature, kLoadSig, kDelta, kPatch };

  void InitSignature(const Napi::CallbackInfo& info);
  void InitDelta(const Napi::CallbackInfo& info);
  void InitPatch(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value TakeSignature(const Napi::CallbackInfo& info);
  Napi::Value GetMagic(const Napi::CallbackInfo& info);
  Napi::Value GetBlockLength(const Napi::CallbackInfo& info);
  Napi::Value GetStrongLength(const Napi::CallbackInfo& info);

  /** Frees the librsync job and every lease it holds, keeping a copy of its statistics. */
  void Finish();
  static rs_result CopyFromBasis(void* opaque, rs_long_t pos, size_t* len, void** buf);

  Kind kind_ = Kind::kSignature;
  rs_job_t* job_ = nullptr;
  rs_stats_t stats_{};
  bool busy_ = false;
  rs_result failed_ = RS_DONE;
  bool done_ = false;
  size_t out_capacity_ = 0;
  LogList pending_log_;   // messages logged while constructing the job, handed over with the first step
  double in_bytes_ = 0;   // librsync's streaming API leaves in/out byte counts to the caller
  double out_bytes_ = 0;

  // signature: resolved arguments
  rs_magic_number magic_ = static_cast<rs_magic_number>(0);
  size_t block_len_ = 0;
  size_t strong_len_ = 0;

  // loadsig: the signature being read, then the wrapped result
  rs_signature_t* loaded_ = nullptr;
  Napi::ObjectReference loaded_ref_;

  // delta: the leased signature
  Napi::ObjectReference sig_ref_;
  Signature* sig_ = nullptr;

  // patch: the basis, a file descriptor read with pread, or bytes kept alive by a reference
  int basis_fd_ = -1;
  Napi::Reference<Napi::Uint8Array> basis_ref_;
  const uint8_t* basis_data_ = nullptr;
  size_t basis_len_ = 0;
  int copy_errno_ = 0;
};

}  // namespace imz
