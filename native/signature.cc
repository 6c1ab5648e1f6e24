#include "signature.h"

#include "addon.h"

namespace imz {

Napi::Function Signature::Define(Napi::Env env) {
  return DefineClass(env, "Signature",
                     {InstanceAccessor<&Signature::BlockLength>("blockLength"),
                      InstanceAccessor<&Signature::BlockCount>("blockCount")});
}

Napi::Object Signature::Wrap(Napi::Env env, rs_signature_t* sig, int block_len, double blocks) {
  Napi::Object obj = GetAddonData(env).signature_ctor.New({});
  Signature* self = Unwrap(obj);
  self->sig_ = sig;
  self->block_len_ = block_len;
  self->blocks_ = blocks;
  return obj;
}

Signature::Signature(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Signature>(info) {}

Signature::~Signature() {
  if (sig_ != nullptr) rs_free_sumset(sig_);
}

bool Signature::Lease() {
  if (leased_ || sig_ == nullptr) return false;
  leased_ = true;
  return true;
}

void Signature::Release() { leased_ = false; }

Napi::Value Signature::BlockLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), block_len_);
}

Napi::Value Signature::BlockCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), blocks_);
}

}  // namespace imz
