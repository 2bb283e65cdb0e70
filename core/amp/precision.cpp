#include "core/amp/precision.h"

#include <string>

#include "core/util/error.h"

namespace tb::amp {

Precision parse_precision(std::string_view text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "fp16") return Precision::fp16;
  if (text == "bf16") return Precision::bf16;
  throw Error("precision must be one of fp32, fp16, bf16 (got '" + std::string(text) + "')");
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return "fp32";
    case Precision::fp16:
      return "fp16";
    case Precision::bf16:
      return "bf16";
  }
  return "?";
}

tensor::DType storage_dtype(Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return tensor::DType::f32;
    case Precision::fp16:
      return tensor::DType::f16;
    case Precision::bf16:
      return tensor::DType::bf16;
  }
  return tensor::DType::f32;
}

bool needs_loss_scaling(Precision precision) {
  return precision == Precision::fp16;
}

}  // namespace tb::amp
