// A loaded, hash-indexed librsync signature, owned by a JavaScript object.
#pragma once
#include <librsync.h>
#include <napi.h>

namespace imz {

/**
 * Wraps an rs_signature_t that has been loaded and indexed with rs_build_hash_table, ready for
 * rs_delta_begin. Only one delta job may use it at a time (librsync updates match statistics
 * inside the signature while searching), so a delta job leases it and gives it back when it ends.
 */
class Signature : public Napi::ObjectWrap<Signature> {
 public:
  static Napi::Function Define(Napi::Env env);
  /** Wraps `sig` (ownership moves to the new object). */
  static Napi::Object Wrap(Napi::Env env, rs_signature_t* sig, int block_len, double blocks);

  explicit Signature(const Napi::CallbackInfo& info);
  ~Signature() override;

  /** Takes the lease for a delta job; false if another job holds it. */
  bool Lease();
  void Release();
  rs_signature_t* get() const { return sig_; }

 private:
  Napi::Value BlockLength(const Napi::CallbackInfo& info);
  Napi::Value BlockCount(const Napi::CallbackInfo& info);

  rs_signature_t* sig_ = nullptr;
  int block_len_ = 0;
  double blocks_ = 0;
  bool leased_ = false;
};

}  // namespace imz
