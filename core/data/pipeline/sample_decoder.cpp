#include "core/data/pipeline/sample_decoder.h"

#include <cstdint>
#include <cstring>

#include "core/tensor/half.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

using shard::SampleDType;

// Read as float, the type the IDX path computes in, so packed and IDX data decode alike.
float normalize_number(const nlohmann::json& section, const char* key, float fallback,
                       const std::string& where) {
  if (!section.contains(key)) return fallback;
  if (!section[key].is_number()) {
    throw FormatError(where + ": metadata normalize." + key + " is not a number");
  }
  return section[key].get<float>();
}

std::uint32_t load_u32_le(const std::byte* p) {
  return static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(p[0])) |
         static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(p[1])) << 8 |
         static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(p[2])) << 16 |
         static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(p[3])) << 24;
}

}  // namespace

float sample_value_to_float(const std::byte* p, SampleDType dtype) {
  switch (dtype) {
    case SampleDType::u8:
      return static_cast<float>(std::to_integer<std::uint8_t>(*p));
    case SampleDType::i8:
      return static_cast<float>(static_cast<std::int8_t>(std::to_integer<std::uint8_t>(*p)));
    case SampleDType::i32:
      return static_cast<float>(static_cast<std::int32_t>(load_u32_le(p)));
    case SampleDType::f32: {
      const std::uint32_t bits = load_u32_le(p);
      float v;
      std::memcpy(&v, &bits, 4);
      return v;
    }
    case SampleDType::f16:
    case SampleDType::bf16: {
      const auto bits = static_cast<std::uint16_t>(std::to_integer<std::uint16_t>(p[0]) |
                                                   (std::to_integer<std::uint16_t>(p[1]) << 8));
      return dtype == SampleDType::f16 ? tensor::f16_to_float(bits) : tensor::bf16_to_float(bits);
    }
  }
  return 0.0f;
}

SampleDecoder::SampleDecoder(const shard::SampleSpec& spec, const nlohmann::json& metadata,
                             const std::string& where)
    : spec_(spec) {
  if (metadata.is_object() && metadata.contains("normalize") && spec.dtype != SampleDType::f32) {
    const auto& n = metadata["normalize"];
    scale_ = normalize_number(n, "scale", 1.0f, where);
    mean_ = normalize_number(n, "mean", 0.0f, where);
    std_ = normalize_number(n, "std", 1.0f, where);
    if (!(scale_ > 0.0f) || !(std_ > 0.0f)) {
      throw FormatError(where + ": metadata normalize.scale and .std must be > 0");
    }
  }
  normalization_ = Normalization(scale_, mean_, std_);
}

void SampleDecoder::decode(std::span<const std::byte> payload, std::span<float> out) const {
  const std::size_t numel = out.size();
  if (spec_.dtype == SampleDType::u8) {
    normalization_.apply(reinterpret_cast<const std::uint8_t*>(payload.data()), out.data(), numel);
  } else if (spec_.dtype == SampleDType::f32) {
    std::memcpy(out.data(), payload.data(), numel * sizeof(float));
  } else {
    const std::size_t width = shard::dtype_size(spec_.dtype);
    for (std::size_t i = 0; i < numel; ++i) {
      out[i] = normalization_.apply(sample_value_to_float(&payload[i * width], spec_.dtype));
    }
  }
}

}  // namespace tb::data
